// Package keycloaktest is a fake Keycloak for tests: the token endpoint (client credentials)
// and the admin API's user search, read and update, answering as Keycloak 24+ does:
// bearer tokens that expire, 401 {"error": "HTTP 401 Unauthorized"} without a valid one,
// 404 {"error": "User not found"} for an unknown id, usernames stored in lower case, and a
// PUT that replaces the user's profile fields (firstName, lastName, email, attributes) with
// what it carries, so a client that sends {"enabled": false} alone wipes them, as the real
// server does since 24.
package keycloaktest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// User is a user of the realm.
type User struct {
	ID, Username, FirstName, LastName, Email string
	Enabled                                  bool
	Attributes                               map[string][]string
}

// Server is the fake.
type Server struct {
	ts                     *httptest.Server
	realm                  string
	clientID, clientSecret string

	mu       sync.Mutex
	users    map[string]*User // by id
	tokens   map[string]time.Time
	tokenTTL time.Duration
	fail     []int // statuses for the next admin requests
	puts     int
	tokensIn int
}

// New starts a fake with one realm and one confidential client allowed to manage users.
func New(realm, clientID, clientSecret string) *Server {
	s := &Server{realm: realm, clientID: clientID, clientSecret: clientSecret, users: map[string]*User{}, tokens: map[string]time.Time{}, tokenTTL: 5 * time.Minute}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /realms/{realm}/protocol/openid-connect/token", s.token)
	mux.HandleFunc("GET /admin/realms/{realm}/users", s.admin(s.search))
	mux.HandleFunc("GET /admin/realms/{realm}/users/{id}", s.admin(s.get))
	mux.HandleFunc("PUT /admin/realms/{realm}/users/{id}", s.admin(s.update))
	s.ts = httptest.NewServer(mux)
	return s
}

// URL is the base URL (Keycloak 17+ layout, no /auth).
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// AddUser adds a user and returns its id.
func (s *Server) AddUser(u User) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.ID = newID()
	u.Username = strings.ToLower(u.Username)
	s.users[u.ID] = &u
	return u.ID
}

// User returns a copy of the user.
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// FailNext makes the next admin requests answer these statuses, in order.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, statuses...)
}

// ExpireTokens ends every token issued so far, as a restart or a short lifespan does.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]time.Time{}
}

// Puts counts user updates that reached the fake; Tokens counts tokens issued.
func (s *Server) Puts() int   { s.mu.Lock(); defer s.mu.Unlock(); return s.puts }
func (s *Server) Tokens() int { s.mu.Lock(); defer s.mu.Unlock(); return s.tokensIn }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("realm") != s.realm {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm does not exist"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"})
		return
	}
	if id != s.clientID || secret != s.clientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"})
		return
	}
	s.mu.Lock()
	tok := newID() + newID()
	s.tokens[tok] = time.Now().Add(s.tokenTTL)
	s.tokensIn++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": int(s.tokenTTL.Seconds()), "refresh_expires_in": 0,
		"token_type": "Bearer", "not-before-policy": 0, "scope": "profile email"})
}

// admin checks the bearer token and the realm, and applies injected failures.
func (s *Server) admin(next func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		exp, ok := s.tokens[tok]
		var fail int
		if len(s.fail) > 0 {
			fail, s.fail = s.fail[0], s.fail[1:]
		}
		s.mu.Unlock()
		switch {
		case fail != 0:
			writeJSON(w, fail, map[string]string{"error": http.StatusText(fail)})
		case !ok || time.Now().After(exp):
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "HTTP 401 Unauthorized"})
		case r.PathValue("realm") != s.realm:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm not found."})
		default:
			next(w, r)
		}
	}
}

func (s *Server) rep(u *User) map[string]any {
	m := map[string]any{"id": u.ID, "username": u.Username, "enabled": u.Enabled, "emailVerified": false, "createdTimestamp": 1700000000000,
		"totp": false, "disableableCredentialTypes": []string{}, "requiredActions": []string{}, "notBefore": 0,
		"access": map[string]bool{"manageGroupMembership": true, "view": true, "mapRoles": true, "impersonate": false, "manage": true}}
	if u.FirstName != "" {
		m["firstName"] = u.FirstName
	}
	if u.LastName != "" {
		m["lastName"] = u.LastName
	}
	if u.Email != "" {
		m["email"] = u.Email
	}
	if len(u.Attributes) > 0 {
		m["attributes"] = u.Attributes
	}
	return m
}

// search is UsersResource.getUsers by username: exact=true matches the whole (lower-cased)
// username, otherwise a substring.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := strings.ToLower(q.Get("username"))
	exact := q.Get("exact") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, u := range s.users {
		if name == "" || exact && u.Username == name || !exact && strings.Contains(u.Username, name) {
			out = append(out, s.rep(u))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[r.PathValue("id")]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "User not found"})
		return
	}
	writeJSON(w, http.StatusOK, s.rep(u))
}

// update is UserResource.updateUser under the declarative user profile (Keycloak 24+): the
// profile fields take the values sent, absent ones are cleared; enabled changes only when
// sent. 204 on success.
func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Username   *string             `json:"username"`
		FirstName  string              `json:"firstName"`
		LastName   string              `json:"lastName"`
		Email      string              `json:"email"`
		Enabled    *bool               `json:"enabled"`
		Attributes map[string][]string `json:"attributes"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown_error"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[r.PathValue("id")]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "User not found"})
		return
	}
	if body.Username != nil && strings.ToLower(*body.Username) != u.Username {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "error-user-attribute-read-only", "field": "username"})
		return
	}
	s.puts++
	u.FirstName, u.LastName, u.Email, u.Attributes = body.FirstName, body.LastName, body.Email, body.Attributes
	if body.Enabled != nil {
		u.Enabled = *body.Enabled
	}
	w.WriteHeader(http.StatusNoContent)
}
