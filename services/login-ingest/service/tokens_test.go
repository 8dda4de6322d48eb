package service

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
)

// The tokens of a rotation at clinic-a: the old one in ingest_token_env, the new one listed
// in ingest_tokens under a name.
const (
	oldTokenA = "old-token-of-clinic-a-0c4b1e"
	newTokenA = "new-token-of-clinic-a-8d2f7a"
)

// rotationSites is the sites file in the middle of a rotation at clinic-a; finished, the old
// token is gone from it.
func rotationSites(t *testing.T, finished bool) *siteconfig.File {
	t.Helper()
	t.Setenv("TEST_TOKEN_A", oldTokenA)
	t.Setenv("TEST_TOKEN_A_NEW", newTokenA)
	t.Setenv("TEST_TOKEN_B", tokenB)
	old := "    ingest_token_env: TEST_TOKEN_A\n"
	if finished {
		old = ""
	}
	f, err := siteconfig.Parse([]byte(fmt.Sprintf(`sites:
  - id: %s
%s    ingest_tokens:
      - {name: 2026-11, env: TEST_TOKEN_A_NEW}
  - id: %s
    ingest_token_env: TEST_TOKEN_B
`, siteA, old, siteB)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func tokenSetOf(t *testing.T, f *siteconfig.File, log *zap.Logger) (*Ingest, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	ts, err := newTokenSet(f, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	return &Ingest{tokens: ts}, reg
}

func TestTokenRotation(t *testing.T) {
	type check struct {
		token string
		site  string // "": refused
	}
	tests := []struct {
		rule     string
		finished bool
		checks   []check
	}{
		{"during a rotation the old and the new token are both accepted", false, []check{
			{oldTokenA, siteA}, {newTokenA, siteA}, {tokenB, siteB},
		}},
		{"after the rotation the removed token is refused and the new one accepted", true, []check{
			{oldTokenA, ""}, {newTokenA, siteA}, {tokenB, siteB},
		}},
		{"near misses are refused", false, []check{
			{"", ""}, {newTokenA[:len(newTokenA)-1], ""}, {newTokenA + "0", ""}, {strings.ToUpper(newTokenA), ""},
			{" " + newTokenA, ""}, {oldTokenA + newTokenA, ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			in, _ := tokenSetOf(t, rotationSites(t, tc.finished), zap.NewNop())
			for _, c := range tc.checks {
				site, ok := in.siteForToken(c.token)
				if ok != (c.site != "") || site != c.site {
					t.Errorf("token %q: site %q, accepted %v; want site %q", c.token, site, ok, c.site)
				}
			}
		})
	}
}

// TestTokenUseIsCountedAndLoggedByName: the operator finishes a rotation by watching the old
// token's count stop moving, so each token has its own series from the start; the log says
// once when a token comes into use. Neither ever shows a token.
func TestTokenUseIsCountedAndLoggedByName(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	in, reg := tokenSetOf(t, rotationSites(t, false), zap.New(core))
	for _, tok := range []string{newTokenA, newTokenA, newTokenA, tokenB, "wrong-token-entirely-xxxx"} {
		in.siteForToken(tok)
	}
	for _, c := range []struct {
		site, name string
		want       float64
	}{{siteA, "TEST_TOKEN_A", 0}, {siteA, "2026-11", 3}, {siteB, "TEST_TOKEN_B", 1}} {
		if got := testutil.ToFloat64(in.tokens.requests.WithLabelValues(c.site, c.name)); got != c.want {
			t.Errorf("requests with %s's token %s = %v, want %v", c.site, c.name, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(in.tokens.requests); n != 3 {
		t.Errorf("%d token series, want one per configured token (3)", n)
	}
	inUse := logs.FilterMessage("ingest token in use")
	if inUse.Len() != 2 || inUse.FilterField(zap.String("token", "2026-11")).Len() != 1 {
		t.Errorf("in-use log lines: %v, want one per token used", inUse.All())
	}
	scrape, err := testutil.GatherAndCount(reg)
	if err != nil || scrape == 0 {
		t.Fatalf("gather: %d, %v", scrape, err)
	}
	mfs, _ := reg.Gather()
	for _, secret := range []string{oldTokenA, newTokenA, tokenB} {
		for _, mf := range mfs {
			if strings.Contains(mf.String(), secret) {
				t.Errorf("metric %s shows a token", mf.GetName())
			}
		}
		for _, e := range logs.All() {
			if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), secret) {
				t.Errorf("log line %q shows a token", e.Message)
			}
		}
	}
}

// TestShortOldTokenStartsWithAWarning: ingest_token_env predates the length rule, so a short
// token there keeps working, and the log asks for a rotation.
func TestShortOldTokenStartsWithAWarning(t *testing.T) {
	t.Setenv("TEST_TOKEN_DEMO", "demo-token")
	f, err := siteconfig.Parse([]byte("sites: [{id: clinic-a, ingest_token_env: TEST_TOKEN_DEMO}]"))
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	in, _ := tokenSetOf(t, f, zap.New(core))
	if site, ok := in.siteForToken("demo-token"); !ok || site != siteA {
		t.Fatalf("short old token refused: %q, %v", site, ok)
	}
	if w := logs.FilterMessageSnippet("shorter than the minimum"); w.Len() != 1 || strings.Contains(fmt.Sprint(w.All()[0].ContextMap()), "demo-token") {
		t.Errorf("warnings: %v, want one, without the token", logs.All())
	}
}

// TestBadTokensStopTheStart: login-ingest refuses to start rather than run with a token that
// is empty, too short, or accepted for two sites, and says which key of the sites file.
func TestBadTokensStopTheStart(t *testing.T) {
	tests := []struct {
		rule    string
		newA, b string
		want    string
	}{
		{"an empty new token", "", tokenB, "sites[0].ingest_tokens[0].env: environment variable TEST_TOKEN_A_NEW is empty or unset"},
		{"a new token too short", "0123456789", tokenB, "sites[0].ingest_tokens[0].env: the token in TEST_TOKEN_A_NEW is shorter than 16 characters"},
		{"site b given clinic-a's new token", newTokenA, newTokenA, "sites[1].ingest_token_env: TEST_TOKEN_B holds the same token as sites[0].ingest_tokens[0].env (TEST_TOKEN_A_NEW) of site clinic-a"},
		{"site b given clinic-a's old token", newTokenA, oldTokenA, "sites[1].ingest_token_env: TEST_TOKEN_B holds the same token as sites[0].ingest_token_env (TEST_TOKEN_A)"},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			f := rotationSites(t, false)
			t.Setenv("TEST_TOKEN_A_NEW", tc.newA)
			t.Setenv("TEST_TOKEN_B", tc.b)
			// open reads the tokens before it touches NATS or the database.
			_, err := New(context.Background(), Deps{Log: zap.NewNop(), Sites: f}, DefaultOptions())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), newTokenA) || strings.Contains(err.Error(), oldTokenA) {
				t.Errorf("err = %v shows a token", err)
			}
		})
	}
}

// TestRotationOverHTTP: the hook keeps being answered while it changes tokens, a token admits
// only its own site's events, and once the old token is removed it gets 401.
func TestRotationOverHTTP(t *testing.T) {
	r := newRig(t, engines[0].dsn(t))
	login := func(site string, n int) request {
		header, body, err := events.ToHTTP(loginEv(t, site, user(n), h(n)))
		if err != nil {
			t.Fatal(err)
		}
		return request{header: header, body: body}
	}
	with := func(rq request, tok string) request { rq.token = tok; return rq }

	r.sites = rotationSites(t, false)
	during, err := New(r.ctx, r.deps(nil), r.options())
	if err != nil {
		t.Fatal(err)
	}
	url := intakeServer(t, during)
	for i, c := range []struct {
		rule   string
		rq     request
		status int
	}{
		{"the old token is accepted", with(login(siteA, 1), oldTokenA), http.StatusAccepted},
		{"the new token is accepted", with(login(siteA, 2), newTokenA), http.StatusAccepted},
		{"clinic-a's new token is refused for clinic-b's events", with(login(siteB, 3), newTokenA), http.StatusForbidden},
		{"clinic-a's old token is refused for clinic-b's events", with(login(siteB, 4), oldTokenA), http.StatusForbidden},
		{"clinic-b's token is refused for clinic-a's events", with(login(siteA, 5), tokenB), http.StatusForbidden},
		{"clinic-b's token is accepted for its own", with(login(siteB, 6), tokenB), http.StatusAccepted},
	} {
		if resp, body := post(t, url, c.rq); resp.StatusCode != c.status {
			t.Errorf("%d %s: %s (%+v), want %d", i, c.rule, resp.Status, body, c.status)
		}
	}

	r.sites = rotationSites(t, true)
	after, err := New(r.ctx, r.deps(nil), r.options())
	if err != nil {
		t.Fatal(err)
	}
	url = intakeServer(t, after)
	if resp, _ := post(t, url, with(login(siteA, 7), oldTokenA)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("removed token: %s, want 401", resp.Status)
	}
	if resp, _ := post(t, url, with(login(siteA, 8), newTokenA)); resp.StatusCode != http.StatusAccepted {
		t.Errorf("new token after the rotation: %s, want 202", resp.Status)
	}
	if got := len(r.messages(r.ns.StreamAuth(), r.ns.Auth(siteA))); got != 3 {
		t.Errorf("%d of clinic-a's events on the stream, want the 3 accepted", got)
	}
}

// BenchmarkTokenMatch: every request compares against every token, so the cost grows with
// the sites; this measures it at national scale (1,000 sites mid-rotation: 2,000 tokens).
func BenchmarkTokenMatch(b *testing.B) {
	for _, n := range []int{2, 200, 2000} {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			ts := &tokenSet{}
			for i := range n {
				ts.tokens = append(ts.tokens, &siteToken{site: fmt.Sprintf("site-%d", i/2), name: fmt.Sprint(i), hash: sha256.Sum256([]byte(fmt.Sprintf("token-%032d", i)))})
			}
			tok := fmt.Sprintf("token-%032d", n-1)
			for b.Loop() {
				if _, ok := ts.match(tok); !ok {
					b.Fatal("no match")
				}
			}
		})
	}
}
