package openmrs_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/openmrs"
)

// hostile is an OpenMRS that answers every request with handler, and counts the requests.
func hostile(t *testing.T, handler http.HandlerFunc) (*openmrs.Client, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := openmrs.New(openmrs.Config{BaseURL: srv.URL + "/openmrs", Username: "dormant", Password: "s3cret-pw",
		Timeout: 300 * time.Millisecond, MaxRetries: 1, BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls
}

func answer(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

const userJSON = `{"uuid":"0b5e1b2c-0000-4000-8000-000000000001","username":"nurse","retired":false,"auditInfo":{"dateCreated":"2026-01-01T00:00:00.000+0000"}}`

// TestBadOpenMRSAnswersAreClearErrors: whatever a broken or hostile OpenMRS (or a proxy in
// front of it) answers, the client returns an error that says what went wrong, bounded in
// size, in bounded time, and never a half-read user as if it were whole.
func TestBadOpenMRSAnswersAreClearErrors(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	tests := []struct {
		rule    string
		handler http.HandlerFunc
		call    func(context.Context, *openmrs.Client) error
		want    string // in the error
		check   func(error) bool
	}{
		{"garbage instead of a users page is a decode error", answer(200, "application/json", `{"results": [{"uuid": `),
			listUsers, "decode", nil},
		{"a proxy's HTML login page with 200 is a decode error", answer(200, "text/html", `<!DOCTYPE html><html><body><form action="/login">Sign in</form></body></html>`),
			listUsers, "decode", nil},
		{"an HTML 500 page is an API error with a short excerpt", answer(500, "text/html", "<html><body><h1>HTTP Status 500</h1><pre>"+strings.Repeat("at org.openmrs.Foo.bar(Foo.java:1)\n", 5000)+"</pre></body></html>"),
			listUsers, "500", nil},
		{"an HTML 401 page is unauthorized", answer(401, "text/html", "<html>Unauthorized</html>"),
			listUsers, "401", openmrs.IsUnauthorized},
		{"an OpenMRS error body with a megabyte of message stays short", answer(400, "application/json", `{"error":{"message":"`+huge+`","code":"x","detail":"`+huge+`"}}`),
			listUsers, "400", nil},
		{"results that are an object, not a list, are a decode error", answer(200, "application/json", `{"results":{"uuid":"x"}}`),
			listUsers, "decode", nil},
		{"a username that is a number is a decode error", answer(200, "application/json", `{"uuid":"0b5e1b2c-0000-4000-8000-000000000001","username":42}`),
			getUser, "decode", nil},
		{"a creation date that is not a date is a decode error", answer(200, "application/json", strings.Replace(userJSON, "2026-01-01T00:00:00.000+0000", "yesterday", 1)),
			getUser, "yesterday", nil},
		{"a creation date that is a number is a decode error", answer(200, "application/json", strings.Replace(userJSON, `"2026-01-01T00:00:00.000+0000"`, "1767225600000", 1)),
			getUser, "decode", nil},
		{"an empty 200 is a decode error", answer(200, "application/json", ""),
			getUser, "decode", nil},
		{"a JSON null user is refused, not a blank user", answer(200, "application/json", "null"),
			getUser, "get user", nil},
		{"a body over 64 MiB is an error, not a truncated user", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"uuid":"0b5e1b2c-0000-4000-8000-000000000001","username":"`)
			chunk := strings.Repeat("a", 1<<20)
			for range 65 {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
			_, _ = io.WriteString(w, `"}`)
		}, getUser, "decode", nil},
		{"a body that stalls is a timeout after the retries", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, `{"results":[`)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, listUsers, "", func(err error) bool {
			return errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline")
		}},
		{"a body cut short of its Content-Length is an error", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, userJSON[:40])
		}, getUser, "unexpected EOF", nil},
		{"a session whose authenticated flag is a string is a decode error", answer(200, "application/json", `{"authenticated":"yes","user":{"uuid":"x","privileges":[{"name":"Edit Users"}]}}`),
			session, "decode", nil},
		{"a session that says authenticated false is refused", answer(200, "application/json", `{"authenticated":false}`),
			session, "", func(err error) bool { return errors.Is(err, openmrs.ErrUnauthenticated) }},
		{"a next link that goes back is refused, not followed for ever", answer(200, "application/json", `{"results":[`+userJSON+`],"links":[{"rel":"next","uri":"http://other.example/openmrs/ws/rest/v1/user?startIndex=0"}]}`),
			eachUser, "goes back", nil},
		{"a next link without a start index is refused", answer(200, "application/json", `{"results":[`+userJSON+`],"links":[{"rel":"next","uri":"javascript:alert(1)"}]}`),
			eachUser, "startIndex", nil},
		{"a redirect to elsewhere is not followed with the credentials", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://attacker.example/steal", http.StatusFound)
		}, getUser, "302", nil},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			c, calls := hostile(t, tc.handler)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx, c)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", trim(err.Error()), tc.want)
			}
			if tc.check != nil && !tc.check(err) {
				t.Errorf("error %q is not of the expected kind", trim(err.Error()))
			}
			if n := len(err.Error()); n > 4096 {
				t.Errorf("error of %d bytes: a hostile server could flood the logs", n)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Error("the error carries the password")
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s", d)
			}
			if calls.Load() == 0 {
				t.Error("the server was never asked")
			}
		})
	}
}

func trim(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func listUsers(ctx context.Context, c *openmrs.Client) error {
	_, err := c.Users(ctx, 0, 10)
	return err
}

func getUser(ctx context.Context, c *openmrs.Client) error {
	u, err := c.User(ctx, "0b5e1b2c-0000-4000-8000-000000000001")
	if err == nil && u.UUID == "" {
		return errors.New("get user: OpenMRS answered no user")
	}
	return err
}

func session(ctx context.Context, c *openmrs.Client) error {
	_, err := c.Session(ctx)
	return err
}

func eachUser(ctx context.Context, c *openmrs.Client) error {
	return c.EachUser(ctx, 10, 0, func(openmrs.User, int) error { return nil })
}
