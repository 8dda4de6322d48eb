package openmrs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// UserPropertyLastLogin is the user property OpenMRS core writes on every
// successful username/password login (OpenmrsConstants
// .USER_PROPERTY_LAST_LOGIN_TIMESTAMP, set in HibernateContextDAO), as
// epoch milliseconds in a string.
const UserPropertyLastLogin = "lastLoginTimestamp"

// SuperUserRole is RoleConstants.SUPERUSER: a user with it holds every
// privilege.
const SuperUserRole = "System Developer"

// MaxPageSize is webservices.rest's default maxResultsAbsolute. A site can
// raise or lower it with the global property
// webservices.rest.maxResultsAbsolute; EachUser adapts when it is lower.
const MaxPageSize = 100

// Page is one page of a REST list.
type Page[T any] struct {
	Results []T
	// Next is the href of the rel="next" link, empty on the last page.
	Next string
}

// Role is an OpenMRS role as listed in a user or by Roles.
type Role struct {
	UUID, Name, Display string
}

// Person is the person behind a user. GivenName and FamilyName are only
// filled by Client.Person: GET /user?v=full gives the person in its default
// representation, whose preferredName is a bare reference.
type Person struct {
	UUID, Display, GivenName, FamilyName string
}

// User is an OpenMRS user account as GET /user?v=full describes it.
type User struct {
	UUID, Username, SystemID, Display string
	Retired                           bool
	RetireReason                      string // auditInfo.retireReason
	Email                             string // Platform 2.2+
	Person                            Person
	// Roles are the roles given to the user directly and those they
	// inherit (allRoles), without duplicates.
	Roles          []Role
	UserProperties map[string]string
	DateCreated    time.Time  // auditInfo.dateCreated
	DateRetired    *time.Time // auditInfo.dateRetired
}

// LastLoginTimestamp reads the lastLoginTimestamp user property: when
// the user last logged in with a password, if OpenMRS recorded it.
// OAuth2 and other schemes do not write it.
func (u User) LastLoginTimestamp() (time.Time, bool) {
	v, ok := u.UserProperties[UserPropertyLastLogin]
	if !ok || v == "" {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// HasRole reports whether the user has the named role, directly or
// inherited.
func (u User) HasRole(name string) bool {
	for _, r := range u.Roles {
		if r.Name == name {
			return true
		}
	}
	return false
}

type wireRef struct {
	UUID    string `json:"uuid"`
	Display string `json:"display"`
	Name    string `json:"name"`
}

type wireLink struct {
	Rel string `json:"rel"`
	URI string `json:"uri"`
}

type wireUser struct {
	UUID           string            `json:"uuid"`
	Display        string            `json:"display"`
	Username       *string           `json:"username"`
	SystemID       *string           `json:"systemId"`
	Email          *string           `json:"email"`
	Retired        bool              `json:"retired"`
	UserProperties map[string]string `json:"userProperties"`
	Person         *struct {
		UUID          string `json:"uuid"`
		Display       string `json:"display"`
		PreferredName *struct {
			GivenName  *string `json:"givenName"`
			FamilyName *string `json:"familyName"`
		} `json:"preferredName"`
	} `json:"person"`
	Roles     []wireRef `json:"roles"`
	AllRoles  []wireRef `json:"allRoles"`
	AuditInfo *struct {
		DateCreated  *Time   `json:"dateCreated"`
		DateRetired  *Time   `json:"dateRetired"`
		RetireReason *string `json:"retireReason"`
	} `json:"auditInfo"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (w wireUser) user() User {
	u := User{
		UUID:           w.UUID,
		Username:       str(w.Username),
		SystemID:       str(w.SystemID),
		Display:        w.Display,
		Retired:        w.Retired,
		Email:          str(w.Email),
		UserProperties: w.UserProperties,
	}
	if u.UserProperties == nil {
		u.UserProperties = map[string]string{}
	}
	if w.Person != nil {
		u.Person = Person{UUID: w.Person.UUID, Display: w.Person.Display}
		if pn := w.Person.PreferredName; pn != nil {
			u.Person.GivenName = str(pn.GivenName)
			u.Person.FamilyName = str(pn.FamilyName)
		}
	}
	seen := map[string]bool{}
	for _, list := range [][]wireRef{w.Roles, w.AllRoles} {
		for _, r := range list {
			if seen[r.UUID] {
				continue
			}
			seen[r.UUID] = true
			u.Roles = append(u.Roles, r.role())
		}
	}
	if a := w.AuditInfo; a != nil {
		if a.DateCreated != nil {
			u.DateCreated = a.DateCreated.Time
		}
		if a.DateRetired != nil && !a.DateRetired.IsZero() {
			t := a.DateRetired.Time
			u.DateRetired = &t
		}
		u.RetireReason = str(a.RetireReason)
	}
	return u
}

func (r wireRef) role() Role {
	name := r.Name
	if name == "" {
		// A reference representation has no name; for roles the display
		// is the name (MetadataDelegatingCrudResource.getDisplayString).
		name = r.Display
	}
	return Role{UUID: r.UUID, Name: name, Display: r.Display}
}

type wireList[T any] struct {
	Results []T        `json:"results"`
	Links   []wireLink `json:"links"`
}

func (l wireList[T]) next() string {
	for _, k := range l.Links {
		if k.Rel == "next" {
			return k.URI
		}
	}
	return ""
}

func pageQuery(v string, startIndex, limit int) url.Values {
	q := url.Values{}
	if v != "" {
		q.Set("v", v)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if startIndex > 0 {
		q.Set("startIndex", strconv.Itoa(startIndex))
	}
	return q
}

// Users lists one page of users, retired ones included, in OpenMRS's
// order (by user id, so new users come last). limit <= 0 takes the
// server's default page size.
func (c *Client) Users(ctx context.Context, startIndex, limit int) (Page[User], error) {
	if startIndex < 0 {
		return Page[User]{}, fmt.Errorf("list users: negative startIndex %d", startIndex)
	}
	var l wireList[wireUser]
	if err := c.getJSON(ctx, "/user", pageQuery("full", startIndex, limit), &l); err != nil {
		return Page[User]{}, fmt.Errorf("list users from %d: %w", startIndex, err)
	}
	p := Page[User]{Results: make([]User, len(l.Results)), Next: l.next()}
	for i, w := range l.Results {
		p.Results[i] = w.user()
	}
	return p, nil
}

// nextStartIndex reads startIndex from a next link. The link itself is
// not followed: OpenMRS builds it from the request's scheme and host,
// which behind a proxy may name an internal address the credentials must
// not go to.
func nextStartIndex(href string) (int, error) {
	u, err := url.Parse(href)
	if err != nil {
		return 0, fmt.Errorf("parse next link %q: %w", href, err)
	}
	n, err := strconv.Atoi(u.Query().Get("startIndex"))
	if err != nil {
		return 0, fmt.Errorf("next link %q has no startIndex", href)
	}
	return n, nil
}

// EachUser calls fn for every user from startIndex on, a page of pageSize
// at a time (<= 0 means MaxPageSize), with the user's index in the
// listing, so a caller that stops can resume from index+1. It stops at the
// first error fn returns and returns it wrapped.
func (c *Client) EachUser(ctx context.Context, pageSize, startIndex int, fn func(u User, index int) error) error {
	if pageSize <= 0 {
		pageSize = MaxPageSize
	}
	idx := startIndex
	for {
		p, err := c.Users(ctx, idx, pageSize)
		if n, ok := absoluteLimit(err); ok && n < pageSize {
			// The site caps pages below what we asked: ask for its cap.
			pageSize = n
			continue
		}
		if err != nil {
			return err
		}
		for i, u := range p.Results {
			if err := fn(u, idx+i); err != nil {
				return fmt.Errorf("user %s at index %d: %w", u.UUID, idx+i, err)
			}
		}
		if p.Next == "" {
			return nil
		}
		next, err := nextStartIndex(p.Next)
		if err != nil {
			return fmt.Errorf("list users after index %d: %w", idx, err)
		}
		if next <= idx {
			return fmt.Errorf("list users: next link goes back from %d to %d", idx, next)
		}
		idx = next
	}
}

// User fetches one user by uuid. An unknown uuid gives an error for which
// IsNotFound is true.
func (c *Client) User(ctx context.Context, uuid string) (User, error) {
	if uuid == "" {
		return User{}, errors.New("get user: empty uuid")
	}
	var w wireUser
	if err := c.getJSON(ctx, "/user/"+url.PathEscape(uuid), url.Values{"v": {"full"}}, &w); err != nil {
		return User{}, fmt.Errorf("get user %s: %w", uuid, err)
	}
	return w.user(), nil
}

// Person fetches a person with their preferred given and family names,
// which GET /user?v=full does not include.
func (c *Client) Person(ctx context.Context, uuid string) (Person, error) {
	if uuid == "" {
		return Person{}, errors.New("get person: empty uuid")
	}
	var w struct {
		UUID          string `json:"uuid"`
		Display       string `json:"display"`
		PreferredName *struct {
			GivenName  *string `json:"givenName"`
			FamilyName *string `json:"familyName"`
		} `json:"preferredName"`
	}
	if err := c.getJSON(ctx, "/person/"+url.PathEscape(uuid), url.Values{"v": {"full"}}, &w); err != nil {
		return Person{}, fmt.Errorf("get person %s: %w", uuid, err)
	}
	p := Person{UUID: w.UUID, Display: w.Display}
	if w.PreferredName != nil {
		p.GivenName, p.FamilyName = str(w.PreferredName.GivenName), str(w.PreferredName.FamilyName)
	}
	return p, nil
}

// RetireUser retires a user with reason: DELETE /user/{uuid}?reason=...,
// never purge. A user already retired is left alone and nil returned:
// webservices.rest's UserResource checks "already retired" on its
// UserAndPassword wrapper, whose flag is never set, so a second DELETE
// would overwrite the original reason, date and retiredBy. Reading first
// keeps the first retirement's record. An unknown uuid gives an error for
// which IsNotFound is true.
func (c *Client) RetireUser(ctx context.Context, uuid, reason string) error {
	if reason == "" {
		return fmt.Errorf("retire user %s: a reason is required", uuid)
	}
	u, err := c.User(ctx, uuid)
	if err != nil {
		return fmt.Errorf("retire user: %w", err)
	}
	if u.Retired {
		return nil
	}
	_, err = c.do(ctx, c.auth, call{
		method: http.MethodDelete,
		path:   "/user/" + url.PathEscape(uuid),
		query:  url.Values{"reason": {reason}},
		want:   []int{http.StatusNoContent, http.StatusOK},
	})
	if err != nil {
		return fmt.Errorf("retire user %s: %w", uuid, err)
	}
	return nil
}

// UnretireUser makes a retired user active again. It sends POST
// /user/{uuid} {"retired": false}: the update path sets User.retired and
// core's RetireSaveHandler clears retiredBy, dateRetired and retireReason.
// The generic {"deleted": "false"} undelete does not work for users: it
// reaches MetadataDelegatingCrudResource.undelete, which tests the
// UserAndPassword wrapper's own retired flag (always false) and so
// silently does nothing. The answer is checked so that a server that
// ignored the change is an error, not a success. Unretiring an active
// user changes nothing and succeeds.
func (c *Client) UnretireUser(ctx context.Context, uuid string) error {
	if uuid == "" {
		return errors.New("unretire user: empty uuid")
	}
	body, err := c.do(ctx, c.auth, call{
		method: http.MethodPost,
		path:   "/user/" + url.PathEscape(uuid),
		body:   map[string]any{"retired": false},
	})
	if err != nil {
		return fmt.Errorf("unretire user %s: %w", uuid, err)
	}
	var w wireUser
	if err := json.Unmarshal(body, &w); err != nil {
		return fmt.Errorf("unretire user %s: decode answer: %w", uuid, err)
	}
	if w.Retired {
		return fmt.Errorf("unretire user %s: OpenMRS answered 200 but the user is still retired", uuid)
	}
	return nil
}
