// Package openmrstest is a fake OpenMRS REST server (webservices.rest,
// /ws/rest/v1) for tests, seeded and inspected through Go methods.
//
// It mirrors what the real module does for the resources dormant uses,
// read from openmrs-core and openmrs-module-webservices.rest: JSON shapes
// of the ref/default/full representations, links with absolute hrefs,
// paging with limit/startIndex and the maxResultsAbsolute cap, basic auth
// with a JSESSIONID session, 401 vs 403, GET /session answering 200
// "authenticated": false for bad credentials, error bodies as
// RestUtil.wrapErrorResponse writes them, and the quirks a client must
// cope with (a second DELETE re-retires a user; {"deleted": "false"} does
// not unretire one). Where the fake takes a shortcut, the comment says so.
package openmrstest

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"
)

// Privilege names the fake enforces (core's PrivilegeConstants).
const (
	PrivGetUsers              = "Get Users"
	PrivEditUsers             = "Edit Users"
	PrivPurgeUsers            = "Purge Users"
	PrivGetPeople             = "Get People"
	PrivGetRoles              = "Get Roles"
	PrivGetGlobalProperties   = "Get Global Properties"
	PrivManageAlerts          = "Manage Alerts"
	PrivViewAdminFunctions    = "View Administration Functions"
	PrivManageScheduler       = "Manage Scheduler"
	SuperUserRole             = "System Developer"
	defaultLimit              = 50
	defaultMaxResultsAbsolute = 100
)

// UserSpec seeds a user.
type UserSpec struct {
	Username, Password    string
	GivenName, FamilyName string
	Email                 string
	SystemID              string   // default: a generated id like core's "12-3"
	Roles                 []string // role names; unknown roles are created
	Properties            map[string]string
	Created               time.Time // default: now
	Retired               bool
	RetireReason          string // when Retired; default "seeded as retired"
}

// User is the fake's record of a user.
type User struct {
	UUID, PersonUUID      string
	Username, Password    string
	SystemID              string
	GivenName, FamilyName string
	Email                 string
	Roles                 []string
	Properties            map[string]string
	Created               time.Time
	Retired               bool
	RetireReason          string
	RetiredBy             string // uuid
	DateRetired           time.Time
	Changed               time.Time
}

// Retirement is one retire, unretire or purge request that reached a user.
type Retirement struct {
	Action string // "retire", "unretire" or "purge"
	UUID   string
	Reason string
	By     string // acting user's uuid
	At     time.Time
	// WasRetired is the user's state before the request.
	WasRetired bool
}

// Alert is an alert created through POST /alert.
type Alert struct {
	UUID           string
	Text           string
	Recipients     []string // user uuids
	SatisfiedByAny bool
	DateToExpire   time.Time
	CreatedBy      string
}

// Task is a scheduler task definition, for GET /taskdefinition.
type Task struct {
	Name, TaskClass string
	Started         bool
}

type role struct {
	uuid, name  string
	privileges  map[string]bool
	description string
}

type session struct {
	user string // uuid; empty while not authenticated
}

// Fault makes matching requests fail before they reach a resource, as a
// proxy or a crashing server would.
type Fault struct {
	Method     string // empty matches every method
	PathPrefix string // below the REST root, e.g. "/user"; empty matches all
	Count      int    // how many requests to hit; < 0 means until cleared
	Status     int    // answer status; ignored when Drop
	RetryAfter string // Retry-After header value, e.g. "1"
	Drop       bool   // close the connection without an answer
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	ts *httptest.Server

	mu          sync.Mutex
	users       []*User // in creation order: OpenMRS lists by user id
	byUUID      map[string]*User
	byUsername  map[string]*User
	personIndex map[string]*User
	roles       map[string]*role
	roleOrder   []string
	settings    map[string]string
	sessions    map[string]*session
	alerts      []Alert
	retirements []Retirement
	tasks       []Task
	requests    map[string]int
	basicAuths  int
	latency     time.Duration
	faults      []*Fault
	maxResults  int
	nextUserID  int
	version     string
	// handover resources (handover.go)
	providers          []*provider
	orders             []*order
	appointments       []*appointment
	appointmentsModule bool
}

// Option configures a Server.
type Option func(*Server)

// WithVersion sets the OpenMRS version /systeminformation reports.
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// New starts a fake OpenMRS. It has a super user "admin" with password
// "Admin123", as a fresh OpenMRS has. Close it when done.
func New(opts ...Option) *Server {
	s := &Server{
		byUUID:      map[string]*User{},
		byUsername:  map[string]*User{},
		personIndex: map[string]*User{},
		roles:       map[string]*role{},
		settings:    map[string]string{},
		sessions:    map[string]*session{},
		requests:    map[string]int{},
		maxResults:  defaultMaxResultsAbsolute,
		version:     "2.7.4 Build abcdef",
		nextUserID:  1,
	}
	for _, o := range opts {
		o(s)
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.AddUser(UserSpec{Username: "admin", Password: "Admin123", GivenName: "Super", FamilyName: "User", SystemID: "admin", Roles: []string{SuperUserRole}})
	return s
}

// URL is the OpenMRS base URL, e.g. http://127.0.0.1:1234/openmrs.
func (s *Server) URL() string { return s.ts.URL + "/openmrs" }

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Server) roleLocked(name string) *role {
	r, ok := s.roles[name]
	if !ok {
		r = &role{uuid: newUUID(), name: name, privileges: map[string]bool{}}
		s.roles[name] = r
		s.roleOrder = append(s.roleOrder, name)
	}
	return r
}

// AddRole creates a role (if new) holding privs, and returns its uuid.
func (s *Server) AddRole(name string, privs ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.roleLocked(name)
	for _, p := range privs {
		r.privileges[p] = true
	}
	return r.uuid
}

// SetPrivileges replaces the privileges of a role, creating it if new.
func (s *Server) SetPrivileges(roleName string, privs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.roleLocked(roleName)
	r.privileges = map[string]bool{}
	for _, p := range privs {
		r.privileges[p] = true
	}
}

// AddUser seeds a user and returns its uuid. It panics on a duplicate
// username, a test bug.
func (s *Server) AddUser(u UserSpec) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byUsername[u.Username]; dup && u.Username != "" {
		panic("openmrstest: duplicate username " + u.Username)
	}
	now := time.Now().UTC()
	rec := &User{
		UUID: newUUID(), PersonUUID: newUUID(),
		Username: u.Username, Password: u.Password, SystemID: u.SystemID,
		GivenName: u.GivenName, FamilyName: u.FamilyName, Email: u.Email,
		Roles: append([]string(nil), u.Roles...), Properties: map[string]string{},
		Created: u.Created, Retired: u.Retired,
	}
	if rec.SystemID == "" {
		rec.SystemID = fmt.Sprintf("%d-%d", s.nextUserID, luhn(s.nextUserID))
	}
	s.nextUserID++
	if rec.Created.IsZero() {
		rec.Created = now
	}
	for k, v := range u.Properties {
		rec.Properties[k] = v
	}
	if rec.Retired {
		rec.RetireReason = u.RetireReason
		if rec.RetireReason == "" {
			rec.RetireReason = "seeded as retired"
		}
		rec.DateRetired = rec.Created
	}
	for _, r := range rec.Roles {
		s.roleLocked(r)
	}
	s.users = append(s.users, rec)
	s.byUUID[rec.UUID] = rec
	s.personIndex[rec.PersonUUID] = rec
	if rec.Username != "" {
		s.byUsername[rec.Username] = rec
	}
	return rec.UUID
}

// luhn is a check digit, as core's system ids carry one.
func luhn(n int) int {
	sum, double := 0, true
	for ; n > 0; n /= 10 {
		d := n % 10
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return (10 - sum%10) % 10
}

// User returns a copy of the user's record.
func (s *Server) User(uuid string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.byUUID[uuid]
	if !ok {
		return User{}, false
	}
	c := *u
	c.Roles = append([]string(nil), u.Roles...)
	c.Properties = make(map[string]string, len(u.Properties))
	for k, v := range u.Properties {
		c.Properties[k] = v
	}
	return c, true
}

// UserUUID returns the uuid of the user with that username.
func (s *Server) UserUUID(username string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.byUsername[username]; ok {
		return u.UUID
	}
	return ""
}

// SetUserProperty sets a user property, as core does on login.
func (s *Server) SetUserProperty(uuid, name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.byUUID[uuid]; ok {
		u.Properties[name] = value
	}
}

// SetSystemSetting sets a global property; value "" keeps it with no value.
func (s *Server) SetSystemSetting(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settings[name] = value
}

// AddTask registers a scheduler task definition.
func (s *Server) AddTask(t Task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tasks = append(s.tasks, t)
}

// Retirements is the log of retire, unretire and purge requests.
func (s *Server) Retirements() []Retirement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Retirement(nil), s.retirements...)
}

// Alerts are the alerts created so far.
func (s *Server) Alerts() []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Alert(nil), s.alerts...)
}

// Requests counts requests by "METHOD /path" below the REST root, with
// uuids replaced by {uuid}, e.g. "DELETE /user/{uuid}".
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// BasicAuthCount is how many requests logged in with basic auth (a
// request riding a valid session does not, as in OpenMRS's
// AuthorizationFilter).
func (s *Server) BasicAuthCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.basicAuths
}

// SetLatency delays every answer by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetMaxResults sets webservices.rest.maxResultsAbsolute (default 100).
func (s *Server) SetMaxResults(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxResults = n
}

// FailNext makes the next n requests answer status with an OpenMRS error
// body.
func (s *Server) FailNext(n, status int) { s.InjectFault(Fault{Count: n, Status: status}) }

// DropNext makes the next n requests lose their connection unanswered.
func (s *Server) DropNext(n int) { s.InjectFault(Fault{Count: n, Drop: true}) }

// InjectFault adds a fault; faults are matched in the order added.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// ExpireSessions ends every session, as a session timeout or a restart of
// OpenMRS does. Clients holding a JSESSIONID then get 401 "Session timed
// out" until they drop it.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions = map[string]*session{}
}

// hasPrivilegeLocked mirrors core's User.hasPrivilege: super users hold
// everything. Role inheritance is not modelled.
func (s *Server) hasPrivilegeLocked(u *User, priv string) bool {
	for _, rn := range u.Roles {
		if rn == SuperUserRole {
			return true
		}
		if r, ok := s.roles[rn]; ok && r.privileges[priv] {
			return true
		}
	}
	return false
}

func (s *Server) privilegesLocked(u *User) []string {
	set := map[string]bool{}
	for _, rn := range u.Roles {
		if r, ok := s.roles[rn]; ok {
			for p := range r.privileges {
				set[p] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// normalize replaces uuid path segments by {uuid} for Requests.
func normalize(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if len(p) == 36 && strings.Count(p, "-") == 4 {
			parts[i] = "{uuid}"
		}
	}
	return strings.Join(parts, "/")
}
