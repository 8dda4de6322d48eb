package openmrs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Session is what GET /session says about the caller.
type Session struct {
	Authenticated bool
	Locale        string
	// User is the authenticated user as SessionController's custom
	// representation gives it: uuid, display, username, systemId,
	// userProperties, person (uuid, display), roles.
	User User
	// Privileges are the user's privileges as OpenMRS lists them. A super
	// user's list may be empty: see HasPrivilege.
	Privileges []string
}

// HasPrivilege reports whether the session's user holds the privilege. A
// user with the System Developer role holds every privilege, as core's
// User.hasPrivilege has it, whatever the privilege list says. The session
// lists the user's direct roles only, so a super-user role reached solely
// through role inheritance is not seen here.
func (s Session) HasPrivilege(name string) bool {
	if !s.Authenticated {
		return false
	}
	if s.User.HasRole(SuperUserRole) {
		return true
	}
	for _, p := range s.Privileges {
		if p == name {
			return true
		}
	}
	return false
}

type wireSession struct {
	Authenticated bool   `json:"authenticated"`
	Locale        string `json:"locale"`
	User          *struct {
		wireUser
		Privileges []wireRef `json:"privileges"`
	} `json:"user"`
}

func (w wireSession) session() Session {
	s := Session{Authenticated: w.Authenticated, Locale: w.Locale}
	if w.User != nil {
		s.User = w.User.user()
		for _, p := range w.User.Privileges {
			name := p.Name
			if name == "" {
				name = p.Display
			}
			s.Privileges = append(s.Privileges, name)
		}
	}
	return s
}

// Session asks OpenMRS who the client is, logging in if needed. Bad
// credentials give ErrUnauthenticated: OpenMRS answers them with 200 and
// "authenticated": false, not 401.
func (c *Client) Session(ctx context.Context) (Session, error) {
	s, err := c.session(ctx, c.auth)
	if err != nil {
		return Session{}, fmt.Errorf("get session as %s: %w", c.cfg.Username, err)
	}
	return s, nil
}

func (c *Client) session(ctx context.Context, a *authState) (Session, error) {
	body, err := c.do(ctx, a, call{method: http.MethodGet, path: "/session"})
	if err != nil {
		return Session{}, err
	}
	var w wireSession
	if err := json.Unmarshal(body, &w); err != nil {
		return Session{}, fmt.Errorf("decode session: %w", err)
	}
	if !w.Authenticated {
		// OpenMRS keeps the anonymous session it created; forget its
		// cookie so the next call sends the credentials again.
		a.reset()
		return Session{}, ErrUnauthenticated
	}
	return w.session(), nil
}

// CheckCredentials checks a username and password against OpenMRS, for
// the admin page's sign-in. It uses a session of its own, leaves the
// client's session and cookies alone, and logs that session out after.
// Wrong credentials give ErrUnauthenticated.
func (c *Client) CheckCredentials(ctx context.Context, username, password string) (Session, error) {
	if username == "" || password == "" {
		return Session{}, fmt.Errorf("check credentials: %w", ErrUnauthenticated)
	}
	a := newAuthState(username, password)
	s, err := c.session(ctx, a)
	if err != nil {
		return Session{}, fmt.Errorf("check credentials of %s: %w", username, err)
	}
	// Best effort: an abandoned session only lingers until it times out.
	_, _ = c.do(ctx, a, call{method: http.MethodDelete, path: "/session", want: []int{http.StatusNoContent, http.StatusOK}})
	return s, nil
}
