// Package keycloak disables users through Keycloak's admin REST API, for OpenMRS sites whose
// staff sign in with OpenID Connect: when dormant retires an OpenMRS account, the same person
// should not keep a live Keycloak login either.
//
// Calls (Keycloak 17+ paths; older WildFly-based releases put them under /auth, which
// BaseURL may include):
//
//   - POST {base}/realms/{realm}/protocol/openid-connect/token, grant_type=client_credentials:
//     a service-account token. The client needs the realm-management roles view-users and
//     manage-users.
//   - GET {base}/admin/realms/{realm}/users?username=X&exact=true: the user, in full.
//   - PUT {base}/admin/realms/{realm}/users/{id}: the same representation with enabled=false.
//     The whole representation is sent back, not {"enabled": false}: since Keycloak 24 a
//     partial update clears the user-profile attributes it leaves out (firstName, lastName,
//     email, custom attributes).
//
// Disabling is idempotent: a user already disabled is left alone, a username Keycloak does
// not know is reported as ErrNoSuchUser. Calls are retried with backoff on 5xx, 429 and
// network errors; a 401 fetches a new token once; any other 4xx is an *Error that the
// caller should not retry.
package keycloak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNoSuchUser means Keycloak has no user with that username.
var ErrNoSuchUser = errors.New("keycloak: no such user")

// Error is an HTTP error answer of Keycloak.
type Error struct {
	Status int
	// Message is Keycloak's "error" (and "error_description") or an excerpt of the body.
	Message string
	Op      string
}

func (e *Error) Error() string { return fmt.Sprintf("keycloak: %s: %d %s", e.Op, e.Status, e.Message) }

// Retryable reports whether repeating the call may succeed: 5xx, 429 and network errors.
func Retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// Config configures a Client.
type Config struct {
	// BaseURL is Keycloak's address, e.g. https://sso.example.org (or .../auth before 17).
	BaseURL string
	// Realm holds the users (the one OpenMRS signs in against).
	Realm string
	// TokenRealm is where the client lives (default Realm).
	TokenRealm             string
	ClientID, ClientSecret string
	// Retries on 5xx, 429 and network errors (default 3), from Backoff (default 200ms)
	// doubling, with jitter.
	Retries int
	Backoff time.Duration
	// HTTPClient defaults to a client with a 15s timeout.
	HTTPClient *http.Client
}

// Client talks to one Keycloak realm. Safe for concurrent use.
type Client struct {
	cfg Config
	hc  *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

// New validates cfg.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("keycloak: BaseURL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.Realm == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("keycloak: Realm, ClientID and ClientSecret are required")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.TokenRealm == "" {
		cfg.TokenRealm = cfg.Realm
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	return &Client{cfg: cfg, hc: hc}, nil
}

// Result says what DisableUser did.
type Result string

// Results of DisableUser.
const (
	Disabled        Result = "disabled"
	AlreadyDisabled Result = "already_disabled"
)

// DisableUser disables the user with that username (exact, case-insensitive as Keycloak
// stores usernames in lower case).
func (c *Client) DisableUser(ctx context.Context, username string) (Result, error) {
	if username == "" {
		return "", errors.New("keycloak: empty username")
	}
	rep, err := c.findUser(ctx, username)
	if err != nil {
		return "", err
	}
	if enabled, _ := rep["enabled"].(bool); !enabled {
		return AlreadyDisabled, nil
	}
	id, _ := rep["id"].(string)
	rep["enabled"] = false
	_, err = c.call(ctx, "update user "+username, http.MethodPut, "/admin/realms/"+url.PathEscape(c.cfg.Realm)+"/users/"+url.PathEscape(id), rep, http.StatusNoContent)
	if err != nil {
		return "", err
	}
	return Disabled, nil
}

// findUser returns the user's full representation, kept as a map so that fields this
// package does not know go back to Keycloak unchanged.
func (c *Client) findUser(ctx context.Context, username string) (map[string]any, error) {
	q := url.Values{"username": {username}, "exact": {"true"}, "briefRepresentation": {"false"}}
	body, err := c.call(ctx, "find user "+username, http.MethodGet, "/admin/realms/"+url.PathEscape(c.cfg.Realm)+"/users?"+q.Encode(), nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var users []map[string]any
	if err := json.Unmarshal(body, &users); err != nil {
		return nil, fmt.Errorf("keycloak: find user %s: decode answer: %w", username, err)
	}
	// exact=true arrived in Keycloak 12; older servers match substrings, so check again.
	for _, u := range users {
		if name, _ := u["username"].(string); strings.EqualFold(name, username) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNoSuchUser, username)
}

// call makes an admin API call with a token, retrying as documented on the package.
func (c *Client) call(ctx context.Context, op, method, path string, body any, want int) ([]byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	refreshed := false
	for attempt := 0; ; attempt++ {
		token, err := c.accessToken(ctx, false)
		var out []byte
		if err == nil {
			out, err = c.send(ctx, op, method, c.cfg.BaseURL+path, payload, "application/json", "Bearer "+token, want)
		}
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusUnauthorized && !refreshed && e.Op == op {
			// The token expired or was revoked: get a new one, once.
			refreshed = true
			if _, terr := c.accessToken(ctx, true); terr != nil {
				return nil, terr
			}
			attempt--
			continue
		}
		if err == nil || !Retryable(err) || attempt >= c.cfg.Retries || ctx.Err() != nil {
			return out, err
		}
		d := c.cfg.Backoff << attempt
		d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
}

// accessToken returns a cached service-account token, or a new one when fresh is set or the
// cached one is about to expire.
func (c *Client) accessToken(ctx context.Context, fresh bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !fresh && c.token != "" && time.Now().Before(c.expires) {
		return c.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.cfg.ClientID}, "client_secret": {c.cfg.ClientSecret}}
	body, err := c.send(ctx, "token", http.MethodPost, c.cfg.BaseURL+"/realms/"+url.PathEscape(c.cfg.TokenRealm)+"/protocol/openid-connect/token",
		[]byte(form.Encode()), "application/x-www-form-urlencoded", "", http.StatusOK)
	if err != nil {
		return "", err
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("keycloak: token answer without access_token: %v", err)
	}
	c.token = t.AccessToken
	// Renew a little early so a token never expires on its way.
	c.expires = time.Now().Add(time.Duration(t.ExpiresIn)*time.Second - min(30*time.Second, time.Duration(t.ExpiresIn)*time.Second/2))
	return c.token, nil
}

func (c *Client) send(ctx context.Context, op, method, u string, payload []byte, contentType, auth string, want int) ([]byte, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("keycloak: %s: %w", op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("keycloak: %s: read answer: %w", op, err)
	}
	if resp.StatusCode == want {
		return body, nil
	}
	e := &Error{Status: resp.StatusCode, Op: op}
	var kc struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Message     string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &kc) == nil && (kc.Error != "" || kc.Message != "") {
		e.Message = strings.TrimSpace(strings.Join([]string{kc.Error, kc.Description, kc.Message}, " "))
	} else {
		e.Message = strconv.Quote(string(body[:min(len(body), 200)]))
	}
	return nil, e
}
