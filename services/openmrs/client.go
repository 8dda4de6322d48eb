// Package openmrs is a client for the parts of the OpenMRS REST API
// (webservices.rest, /ws/rest/v1) that dormant uses: the session, users,
// retiring and unretiring them, system settings, roles and alerts.
//
// Every method is safe for concurrent use. The client authenticates with
// HTTP basic auth once, then rides the JSESSIONID cookie OpenMRS sets, so a
// sync of 100k users is one login, not a thousand. When the session ends
// (401) it drops the cookie and logs in again, once per call.
//
// Retries: a call is repeated with exponential backoff and jitter on 5xx,
// 429, network errors and timeouts, honouring Retry-After up to
// MaxRetryAfter, and never on other 4xx. Every call this package makes is safe to repeat, including
// the writes: retiring a retired user and unretiring an active one change
// nothing (see RetireUser and UnretireUser); CreateAlert is the exception
// that may show an alert twice, which is harmless.
package openmrs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"
)

// RESTRoot is where webservices.rest serves version 1 of the API, below
// the OpenMRS web application's base URL.
const RESTRoot = "/ws/rest/v1"

// timeUntil is time.Until, replaceable so Retry-After dates are testable.
var timeUntil = time.Until

// Config configures a Client. Zero values take the defaults documented on
// each field.
type Config struct {
	// BaseURL is the OpenMRS web application, e.g. http://host:8080/openmrs.
	BaseURL string
	// Username and Password of the account dormant acts as.
	Username, Password string
	// Timeout bounds one HTTP attempt (default 30s); retries get their own.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt is repeated (default
	// 4). Negative means no retries.
	MaxRetries int
	// BaseBackoff is the wait before the first retry (default 250ms); it
	// doubles per retry up to MaxBackoff (default 15s), with jitter.
	BaseBackoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits out within
	// a call (default 1m). A server asking for longer, whether in seconds
	// or as an HTTP date, gets no retry from the client: the call fails at
	// once with the server's error (still Retryable, its APIError carrying
	// the hint), and the caller's own slower layer takes over (the
	// actuator's redelivery backoff, the next roster sync, the engine's
	// last good policy). Without a ceiling a broken or hostile server
	// could park a call, and the worker holding it, until its context
	// ended. One minute is four times MaxBackoff's default and twice the
	// actuator's first redelivery backoff: a longer hint is an outage, not
	// a blip, and outages are waited out without holding a call open.
	MaxRetryAfter time.Duration
	// HTTPClient supplies the transport (default http.DefaultTransport).
	// Its Jar is not used: the client keeps its own session cookie.
	HTTPClient *http.Client
	// UserAgent is sent on every request (default "dormant-openmrs").
	UserAgent string
}

const (
	defaultTimeout     = 30 * time.Second
	defaultMaxRetries  = 4
	defaultBaseBackoff = 250 * time.Millisecond
	defaultMaxBackoff  = 15 * time.Second
	// DefaultMaxRetryAfter is MaxRetryAfter's default (see Config).
	DefaultMaxRetryAfter = time.Minute
	defaultUserAgent     = "dormant-openmrs"
)

func (c *Config) fill() error {
	if c.BaseURL == "" {
		return errors.New("openmrs config: BaseURL is required")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return fmt.Errorf("openmrs config: BaseURL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("openmrs config: BaseURL %q must be an absolute http(s) URL", c.BaseURL)
	}
	if u.User != nil {
		return errors.New("openmrs config: BaseURL must not carry credentials; use Username and Password")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("openmrs config: BaseURL %q must not have a query or fragment", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Username == "" {
		return errors.New("openmrs config: Username is required")
	}
	if strings.Contains(c.Username, ":") {
		// Basic auth splits on the first colon, and OpenMRS's
		// AuthorizationFilter splits on every colon.
		return errors.New("openmrs config: Username must not contain ':'")
	}
	if c.Password == "" {
		return errors.New("openmrs config: Password is required")
	}
	if c.Timeout < 0 || c.BaseBackoff < 0 || c.MaxBackoff < 0 || c.MaxRetryAfter < 0 {
		return errors.New("openmrs config: durations must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = defaultMaxRetries
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.BaseBackoff == 0 {
		c.BaseBackoff = defaultBaseBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = defaultMaxBackoff
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.MaxBackoff < c.BaseBackoff {
		return fmt.Errorf("openmrs config: MaxBackoff %s is below BaseBackoff %s", c.MaxBackoff, c.BaseBackoff)
	}
	if c.UserAgent == "" {
		c.UserAgent = defaultUserAgent
	}
	return nil
}

// Client talks to one OpenMRS site. Create it with New.
type Client struct {
	cfg       Config
	base      *url.URL // BaseURL + RESTRoot
	transport http.RoundTripper
	auth      *authState
}

// New validates cfg, fills its defaults and returns a client. It makes no
// request: use Session or Diagnose to check the site.
func New(cfg Config) (*Client, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	base, err := url.Parse(cfg.BaseURL + RESTRoot)
	if err != nil {
		return nil, fmt.Errorf("openmrs config: BaseURL: %w", err)
	}
	var rt http.RoundTripper = http.DefaultTransport
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		rt = cfg.HTTPClient.Transport
	}
	c := &Client{cfg: cfg, base: base, transport: rt}
	c.auth = newAuthState(cfg.Username, cfg.Password)
	return c, nil
}

// BaseURL is the site's OpenMRS base URL as configured.
func (c *Client) BaseURL() string { return c.cfg.BaseURL }

// authState is one identity's login: credentials and the session cookie.
// The client has one; CheckCredentials makes a throwaway one so a sign-in
// check never disturbs the client's own session.
type authState struct {
	username, password string
	login              sync.Mutex // one basic-auth login at a time
	mu                 sync.Mutex
	jar                *cookiejar.Jar
}

func newAuthState(username, password string) *authState {
	a := &authState{username: username, password: password}
	a.reset()
	return a
}

func (a *authState) reset() {
	jar, _ := cookiejar.New(nil) // New never fails with nil options
	a.mu.Lock()
	a.jar = jar
	a.mu.Unlock()
}

func (a *authState) currentJar() *cookiejar.Jar {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.jar
}

// Cookies and SetCookies make authState an http.CookieJar whose contents
// can be dropped atomically on 401.
func (a *authState) Cookies(u *url.URL) []*http.Cookie { return a.currentJar().Cookies(u) }

func (a *authState) SetCookies(u *url.URL, cs []*http.Cookie) { a.currentJar().SetCookies(u, cs) }

func (a *authState) hasSession(u *url.URL) bool {
	for _, ck := range a.Cookies(u) {
		if ck.Name == "JSESSIONID" {
			return true
		}
	}
	return false
}

// call describes one REST call.
type call struct {
	method string
	path   string // below RESTRoot, e.g. "/user/abc"
	query  url.Values
	body   any   // JSON-encoded when not nil
	want   []int // accepted statuses; default 200
}

// do runs a call with authentication and retries and returns the body of
// the accepted answer.
func (c *Client) do(ctx context.Context, a *authState, cl call) ([]byte, error) {
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return nil, fmt.Errorf("encode %s %s body: %w", cl.method, cl.path, err)
		}
	}
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + cl.path
	u.RawPath = ""
	if len(cl.query) > 0 {
		u.RawQuery = cl.query.Encode()
	}
	want := cl.want
	if len(want) == 0 {
		want = []int{http.StatusOK}
	}

	reauthed := false
	for attempt := 0; ; attempt++ {
		body, err := c.attempt(ctx, a, cl.method, cl.path, &u, payload, want)
		if err == nil {
			return body, nil
		}
		if statusOf(err) == http.StatusUnauthorized && !reauthed {
			// The session expired or was never authenticated: drop the
			// cookie so the next attempt logs in with basic auth. Once per
			// call, so bad credentials fail fast instead of looping.
			reauthed = true
			a.reset()
			attempt--
			continue
		}
		if !Retryable(err) || attempt >= c.cfg.MaxRetries || ctx.Err() != nil {
			return nil, err
		}
		wait, ok := c.backoff(attempt, err)
		if !ok {
			return nil, fmt.Errorf("%w (not retried: the server asked to wait longer than MaxRetryAfter %s)", err, c.cfg.MaxRetryAfter)
		}
		if werr := sleep(ctx, wait); werr != nil {
			return nil, fmt.Errorf("%w (gave up waiting to retry: %v)", err, werr)
		}
	}
}

// backoff is the wait before retry number attempt+1: exponential from
// BaseBackoff, capped at MaxBackoff, with half of it jittered so that
// several dormant components do not hammer a recovering server in step.
// A Retry-After hint wins when it asks for longer; ok is false when the
// hint is beyond MaxRetryAfter, and the call is not to be retried.
func (c *Client) backoff(attempt int, err error) (wait time.Duration, ok bool) {
	d := c.cfg.BaseBackoff
	for i := 0; i < attempt && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		// Compared in seconds first: a hint of billions of seconds would
		// overflow a Duration.
		if ae.RetryAfter > int64(c.cfg.MaxRetryAfter/time.Second) {
			return 0, false
		}
		if ra := time.Duration(ae.RetryAfter) * time.Second; ra > d {
			d = ra
		}
	}
	return d, true
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempt makes one HTTP exchange.
func (c *Client) attempt(ctx context.Context, a *authState, method, path string, u *url.URL, payload []byte, want []int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// Without a session cookie this request logs in. Only one request
	// logs in at a time; the others wait and then ride its cookie.
	if !a.hasSession(u) {
		a.login.Lock()
		if a.hasSession(u) {
			a.login.Unlock()
		} else {
			defer a.login.Unlock()
			req.SetBasicAuth(a.username, a.password)
		}
	}
	hc := &http.Client{
		Transport: c.transport,
		Jar:       a,
		// OpenMRS answers REST calls directly; a redirect means a login
		// page or a proxy, and following it would resend the body.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s %s: timed out after %s: %w", method, path, c.cfg.Timeout, context.DeadlineExceeded)
		}
		return nil, &transportError{fmt.Errorf("%s %s: %w", method, path, stripURL(err))}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &transportError{fmt.Errorf("%s %s: read answer: %w", method, path, err)}
	}
	for _, s := range want {
		if resp.StatusCode == s {
			return body, nil
		}
	}
	return nil, newAPIError(method, path, resp.StatusCode, resp.Header, body)
}

// stripURL drops the URL from net/http's errors: it is long, carries the
// retire reason in the query, and the caller already knows it.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// getJSON runs a GET and decodes the answer into out.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	body, err := c.do(ctx, c.auth, call{method: http.MethodGet, path: path, query: q})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode GET %s answer: %w", path, err)
	}
	return nil
}
