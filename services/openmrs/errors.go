package openmrs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrUnauthenticated means OpenMRS did not accept the credentials. GET
// /session reports that with 200 and "authenticated": false, so this error
// is returned for it rather than an APIError.
var ErrUnauthenticated = errors.New("openmrs: credentials not accepted (authenticated: false)")

// APIError is an HTTP error answer from OpenMRS. Message, Code and Detail
// come from webservices.rest's body {"error": {"message", "code", "detail"}}
// (RestUtil.wrapErrorResponse); answers that are not JSON (a servlet
// filter's sendError page, a proxy's 502) leave Code empty and carry a
// short excerpt of the body as Message.
type APIError struct {
	Status  int
	Message string
	Code    string
	Detail  string
	Method  string
	Path    string // path below the REST root, without the query
	// RetryAfter is the server's Retry-After hint, 0 when absent.
	RetryAfter int64 // seconds
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("openmrs: %s %s: %d %s", e.Method, e.Path, e.Status, msg)
}

// absoluteLimitRe matches the message of the APIException that
// RequestContext.setLimit throws when limit exceeds
// webservices.rest.maxResultsAbsolute. It arrives as a 500, but repeating
// the request can never succeed.
var absoluteLimitRe = regexp.MustCompile(`absolute limit at (\d+)`)

// absoluteLimit returns the server's page size cap if err says the
// requested limit exceeded it.
func absoluteLimit(err error) (int, bool) {
	var ae *APIError
	if !errors.As(err, &ae) {
		return 0, false
	}
	m := absoluteLimitRe.FindStringSubmatch(ae.Message)
	if m == nil {
		return 0, false
	}
	n, convErr := strconv.Atoi(m[1])
	return n, convErr == nil && n > 0
}

func statusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// IsNotFound reports whether OpenMRS answered 404 (e.g. an unknown uuid).
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsUnauthorized reports whether OpenMRS answered 401: not authenticated.
func IsUnauthorized(err error) bool {
	return statusOf(err) == http.StatusUnauthorized || errors.Is(err, ErrUnauthenticated)
}

// IsForbidden reports whether OpenMRS answered 403: authenticated, but a
// privilege is missing.
func IsForbidden(err error) bool { return statusOf(err) == http.StatusForbidden }

// Retryable reports whether repeating the request may succeed: 5xx, 429,
// network errors and timeouts. Other 4xx will fail the same way again. A
// cancelled context is not retryable: the caller gave up.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		if _, ok := absoluteLimit(err); ok {
			return false
		}
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// Connections closed mid-answer surface as io errors wrapped by
	// net/http without a net.Error; they are network failures too.
	var te *transportError
	return errors.As(err, &te)
}

// transportError marks an error that happened below HTTP (connect, write,
// read), so Retryable treats it as a network failure.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// newAPIError decodes an error answer. body may be anything.
func newAPIError(method, path string, status int, header http.Header, body []byte) *APIError {
	e := &APIError{Status: status, Method: method, Path: path}
	var wrapped struct {
		Error struct {
			Message string `json:"message"`
			Code    string `json:"code"`
			Detail  string `json:"detail"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &wrapped) == nil && wrapped.Error.Message != "" {
		// Bounded: the message goes into errors and logs, and a broken or hostile server
		// may send megabytes (Detail is often a whole Java stack trace).
		e.Message = clip(wrapped.Error.Message, 1000)
		e.Code = clip(wrapped.Error.Code, 200)
		e.Detail = clip(wrapped.Error.Detail, 4000)
	} else {
		e.Message = excerpt(body)
	}
	if ra := header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.ParseInt(strings.TrimSpace(ra), 10, 64); err == nil && secs >= 0 {
			e.RetryAfter = secs
		} else if t, err := http.ParseTime(ra); err == nil {
			if d := int64(timeUntil(t).Seconds()); d > 0 {
				e.RetryAfter = d
			}
		}
	}
	return e
}

// clip cuts s to at most max bytes, on a rune boundary, marking the cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// excerpt keeps an error page short and on one line: enough to recognise
// a proxy or servlet page without flooding logs.
func excerpt(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	const max = 200
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
