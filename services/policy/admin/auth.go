package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/dormant-dev/dormant/services/openmrs"
)

// Principal is a signed-in admin of one site.
type Principal struct {
	Site, Username, UserUUID, Display string
}

// Errors of signing in, shown to the person signing in as they are.
var (
	ErrBadCredentials = errors.New("wrong username or password")
	ErrNotPermitted   = errors.New("this account may not manage user accounts (it needs the Edit Users privilege)")
	ErrUnknownSite    = errors.New("no such site")
	ErrSiteOffline    = errors.New("the site's OpenMRS cannot be reached; try again later")
)

// Authenticator checks an admin's credentials against the site's OpenMRS. dormant stores no
// password: OpenMRS decides who may sign in.
type Authenticator interface {
	Authenticate(ctx context.Context, site, username, password string) (Principal, error)
}

// CredentialChecker is the part of the OpenMRS client sign-in needs.
type CredentialChecker interface {
	CheckCredentials(ctx context.Context, username, password string) (openmrs.Session, error)
}

// OpenMRSAuth signs admins in with their OpenMRS account: the credentials must be valid
// and the account must hold Privilege (default Edit Users: the privilege retiring users takes).
type OpenMRSAuth struct {
	Sites     map[string]CredentialChecker
	Privilege string
}

// Authenticate implements Authenticator.
func (a OpenMRSAuth) Authenticate(ctx context.Context, site, username, password string) (Principal, error) {
	c, ok := a.Sites[site]
	if !ok || c == nil {
		return Principal{}, ErrUnknownSite
	}
	if username == "" || password == "" {
		return Principal{}, ErrBadCredentials
	}
	s, err := c.CheckCredentials(ctx, username, password)
	switch {
	case errors.Is(err, openmrs.ErrUnauthenticated):
		return Principal{}, ErrBadCredentials
	case err != nil:
		return Principal{}, fmt.Errorf("%w: %v", ErrSiteOffline, err)
	}
	priv := a.Privilege
	if priv == "" {
		priv = "Edit Users"
	}
	if !s.HasPrivilege(priv) {
		return Principal{}, ErrNotPermitted
	}
	return Principal{Site: site, Username: s.User.Username, UserUUID: s.User.UUID, Display: s.User.Display}, nil
}
