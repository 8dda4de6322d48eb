package dormant_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dormant-dev/dormant/services/dormant"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
)

// TestSecretsNeverReachTheLogs runs the all-in-one through everything that handles a secret,
// with every log line captured at debug level: intake requests with the site's token (and a
// wrong one), the roster sync as the acting OpenMRS user, admin sign-ins on the page and the
// API (right and wrong passwords), pages and changes with the session cookie and CSRF token.
// No log line may carry any of those values, nor the acting user's basic-auth header.
func TestSecretsNeverReachTheLogs(t *testing.T) {
	const (
		ingestToken     = "ingest-token-5f1e0c9a7b"
		openmrsPassword = "OpenMRS-acting-pw-83d2"
		adminPassword   = "Admin-signin-pw-0a7e"
		wrongPassword   = "Wrong-signin-pw-c41b"
		sessionKey      = "session-key-of-32-characters-x9q"
	)
	fake := openmrstest.New()
	defer fake.Close()
	fake.AddRole("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivEditUsers, openmrstest.PrivGetGlobalProperties, openmrstest.PrivGetPeople)
	fake.AddRole("User Manager", openmrstest.PrivGetUsers, openmrstest.PrivEditUsers)
	fake.AddUser(openmrstest.UserSpec{Username: "dormant", Password: openmrsPassword, Roles: []string{"Dormant"}})
	fake.AddUser(openmrstest.UserSpec{Username: "manager", Password: adminPassword, Roles: []string{"User Manager"}})
	nurse := fake.AddUser(openmrstest.UserSpec{Username: "nurse1", Password: "Nurse-pw-1", Created: time.Now().AddDate(-1, 0, 0)})

	cfg := testConfig(t)
	cfg.NATSListen = ""
	cfg.LogLevel = "debug"
	core, logs := observer.New(zapcore.DebugLevel)
	cfg.LogCore = core
	sites := fmt.Sprintf(`sites:
  - id: %s
    openmrs_url: %s
    openmrs_user: dormant
    openmrs_password_env: DORMANT_SEC_OPENMRS_PASSWORD
    ingest_token_env: DORMANT_SEC_INGEST_TOKEN
`, site, fake.URL())
	if err := os.WriteFile(cfg.ConfigFile, []byte(sites), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DORMANT_SEC_OPENMRS_PASSWORD", openmrsPassword)
	t.Setenv("DORMANT_SEC_INGEST_TOKEN", ingestToken)
	cfg.Policy.ClockEnabled = false
	cfg.Policy.Admin.SessionKey = sessionKey

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	app, err := dormant.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	stopped := false
	shutdown := func() {
		if !stopped {
			stopped = true
			stop()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
			app.Close()
		}
	}
	defer shutdown()
	base := "http://" + app.Addr()

	// The roster sync at start logs in to OpenMRS as the acting user.
	waitFor(t, "the roster sync to bring nurse1 in", func() bool {
		u, err := app.Policy.Store().User(ctx, site, nurse)
		return err == nil && u.Username == "nurse1"
	})

	// Intake: the right token, a wrong one that contains it, and a bad event with the right one.
	intake := func(token string, body []byte, ctype string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ev, _ := json.Marshal(loginEvent(t, nurse, "nurse1", time.Now().UTC().Add(-time.Minute)))
	if code := intake(ingestToken, ev, "application/cloudevents+json"); code != http.StatusAccepted {
		t.Fatalf("intake with the token: %d", code)
	}
	if code := intake(ingestToken+"-not", ev, "application/cloudevents+json"); code != http.StatusUnauthorized {
		t.Fatalf("intake with a wrong token: %d", code)
	}
	if code := intake(ingestToken, []byte(`{"specversion":"1.0","id":"x","source":"/x","type":"org.openmrs.user.session","site":"`+site+`","data":{"event":"login"}}`), "application/cloudevents+json"); code != http.StatusBadRequest {
		t.Fatalf("intake of a bad event: %d", code)
	}

	// The admin page: a wrong password, then the right one; pages and a change with the cookie.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrfInput := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	page := func(method, path string, form url.Values) (int, string) {
		var resp *http.Response
		var err error
		if method == http.MethodGet {
			resp, err = browser.Get(base + path)
		} else {
			resp, err = browser.PostForm(base+path, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	csrf := func(path string) string {
		_, body := page(http.MethodGet, path, nil)
		m := csrfInput.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no CSRF token on %s", path)
		}
		return m[1]
	}
	signinToken := csrf("/signin")
	if code, _ := page(http.MethodPost, "/signin", url.Values{"csrf_token": {signinToken}, "site": {site}, "username": {"manager"}, "password": {wrongPassword}}); code != http.StatusUnauthorized {
		t.Fatalf("sign-in with a wrong password: %d", code)
	}
	if code, _ := page(http.MethodPost, "/signin", url.Values{"csrf_token": {signinToken}, "site": {site}, "username": {"manager"}, "password": {adminPassword}}); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", code)
	}
	var secrets = map[string]string{"ingest token": ingestToken, "OpenMRS password": openmrsPassword, "admin password": adminPassword,
		"wrong password": wrongPassword, "session key": sessionKey,
		"acting user's basic auth": base64.StdEncoding.EncodeToString([]byte("dormant:" + openmrsPassword)),
		"admin's basic auth":       base64.StdEncoding.EncodeToString([]byte("manager:" + adminPassword))}
	u, _ := url.Parse(base)
	for _, c := range jar.Cookies(u) {
		if len(c.Value) >= 16 {
			secrets["cookie "+c.Name] = c.Value
		}
	}
	pageToken := csrf("/sites/" + site + "/exemptions")
	secrets["CSRF token"] = pageToken
	if code, _ := page(http.MethodPost, "/sites/"+site+"/exemptions", url.Values{"csrf_token": {pageToken}, "user": {"nurse1"}, "reason": {"on leave"}}); code != http.StatusSeeOther {
		t.Fatalf("exemption: %d", code)
	}
	if code, _ := page(http.MethodPost, "/sites/"+site+"/exemptions", url.Values{"csrf_token": {pageToken + "x"}, "user": {"nurse1"}, "reason": {"x"}}); code != http.StatusForbidden {
		t.Fatalf("exemption with a wrong CSRF token: %d", code)
	}
	for _, p := range []string{"/sites/" + site + "/", "/sites/" + site + "/upcoming", "/sites/" + site + "/history"} {
		if code, _ := page(http.MethodGet, p, nil); code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, code)
		}
	}

	// The JSON API: a wrong password, then a sign-in whose CSRF token is a secret too.
	api := func(body string) (int, map[string]any) {
		resp, err := http.Post(base+"/api/v1/session", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, _ := api(`{"site":"` + site + `","username":"manager","password":"` + wrongPassword + `"}`); code != http.StatusUnauthorized {
		t.Fatalf("API sign-in with a wrong password: %d", code)
	}
	code, out := api(`{"site":"` + site + `","username":"manager","password":"` + adminPassword + `"}`)
	if code != http.StatusOK {
		t.Fatalf("API sign-in: %d %v", code, out)
	}
	secrets["API CSRF token"], _ = out["csrf_token"].(string)

	shutdown()
	entries := logs.All()
	if len(entries) < 10 {
		t.Fatalf("only %d log lines: the test would prove nothing", len(entries))
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range entries {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		line := buf.String() + e.Stack
		buf.Free()
		for what, secret := range secrets {
			if secret != "" && strings.Contains(line, secret) {
				t.Errorf("a log line carries the %s: %s", what, line)
			}
		}
	}
}
