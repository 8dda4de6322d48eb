package admin_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/policy/admin"
)

// proxiedPage is the public request page behind trusted proxies 10.0.0.0/8 and
// 2001:db8:ffff::/48, with one session whose requests the test sends from any peer with
// any headers; it returns the address the backend was given for the request, and the status.
type proxiedPage struct {
	t       *testing.T
	mux     http.Handler
	backend *memBackend
	cookies []*http.Cookie
	tok     string
}

func newProxiedPage(t *testing.T, header string, limits admin.RequestLimits) *proxiedPage {
	t.Helper()
	trusted, err := admin.ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	if limits.MinAnswer == 0 {
		limits.MinAnswer = time.Millisecond
	}
	backend := &memBackend{}
	s, err := admin.New(admin.Config{SessionKey: []byte("0123456789abcdef0123456789abcdef"), Sites: []string{"clinic-a"}, Requests: limits,
		TrustedProxies: trusted, ProxyHeader: header}, admin.OpenMRSAuth{}, backend, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/request-reactivation?site=clinic-a", nil))
	return &proxiedPage{t: t, mux: mux, backend: backend, cookies: rec.Result().Cookies(), tok: csrfInput.FindStringSubmatch(rec.Body.String())[1]}
}

// post sends a request from peer with the given header lines and returns the status and the
// client address the backend recorded ("" when the request did not reach it).
func (p *proxiedPage) post(peer string, headers http.Header) (int, string) {
	p.t.Helper()
	form := url.Values{"csrf_token": {p.tok}, "site": {"clinic-a"}, "username": {"ana"}}
	r := httptest.NewRequest(http.MethodPost, "/request-reactivation", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range headers {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	r.RemoteAddr = peer
	for _, c := range p.cookies {
		r.AddCookie(c)
	}
	before := len(p.backend.changes)
	w := httptest.NewRecorder()
	p.mux.ServeHTTP(w, r)
	if len(p.backend.changes) == before {
		return w.Code, ""
	}
	last := p.backend.changes[len(p.backend.changes)-1]
	return w.Code, last[strings.LastIndex(last, " from ")+len(" from "):]
}

func xff(values ...string) http.Header { return http.Header{"X-Forwarded-For": values} }
func fwd(values ...string) http.Header { return http.Header{"Forwarded": values} }

// TestClientAddressBehindTrustedProxies: the address the page counts and records is the
// right-most address of the forwarding header that is not a trusted proxy, and only when the
// peer itself is a trusted proxy; whatever a client writes into the headers cannot make it
// somebody else.
func TestClientAddressBehindTrustedProxies(t *testing.T) {
	many := strings.Repeat("6.6.6.6, ", 5000) + "203.0.113.9"
	tests := []struct {
		rule    string
		header  string // the configured ProxyHeader
		peer    string
		headers http.Header
		want    string
	}{
		{"a client that is not a proxy is its own address, whatever X-Forwarded-For says", "", "198.51.100.7:5000", xff("203.0.113.9"), "198.51.100.7"},
		{"a client that is not a proxy is its own address, whatever Forwarded says", admin.HeaderForwarded, "198.51.100.7:5000", fwd("for=203.0.113.9"), "198.51.100.7"},
		{"a peer just outside the trusted range is not a proxy", "", "11.0.0.1:5000", xff("203.0.113.9"), "11.0.0.1"},
		{"behind a trusted proxy the client is the address it forwards", "", "10.0.0.1:5000", xff("203.0.113.9"), "203.0.113.9"},
		{"an address the client prepended is ignored: the right-most untrusted one counts", "", "10.0.0.1:5000", xff("6.6.6.6, 1.1.1.1, 203.0.113.9"), "203.0.113.9"},
		{"thousands of prepended addresses are ignored", "", "10.0.0.1:5000", xff(many), "203.0.113.9"},
		{"a chain of trusted proxies is walked to the client", "", "10.0.0.1:5000", xff("203.0.113.9, 10.0.0.2, 10.9.9.9"), "203.0.113.9"},
		{"several header lines read as one list, the last line nearest", "", "10.0.0.1:5000", xff("6.6.6.6", "203.0.113.9"), "203.0.113.9"},
		{"a client sending its own second header line cannot be the right-most", "", "10.0.0.1:5000", xff("6.6.6.6, 203.0.113.9", "198.51.100.20"), "198.51.100.20"},
		{"without the header the trusted proxy is the client", "", "10.0.0.1:5000", nil, "10.0.0.1"},
		{"an empty header leaves the trusted proxy as the client", "", "10.0.0.1:5000", xff(""), "10.0.0.1"},
		{"a hop that is not an address stops the walk at the nearest known hop", "", "10.0.0.1:5000", xff("6.6.6.6, unknown, 10.0.0.2"), "10.0.0.2"},
		{"markup in the header is not an address", "", "10.0.0.1:5000", xff(`<script>alert(1)</script>`), "10.0.0.1"},
		{"when every hop is a trusted proxy the farthest is the client", "", "10.0.0.1:5000", xff("10.0.0.5, 10.0.0.2"), "10.0.0.5"},
		{"a hop with a port is its address", "", "10.0.0.1:5000", xff("203.0.113.9:4711"), "203.0.113.9"},
		{"a bracketed IPv6 hop with a port is its address", "", "10.0.0.1:5000", xff("[2001:db8::7]:4711"), "2001:db8::7"},
		{"an IPv4-mapped IPv6 hop is the IPv4 address", "", "10.0.0.1:5000", xff("::ffff:203.0.113.9"), "203.0.113.9"},
		{"an IPv4-mapped IPv6 trusted proxy is still trusted", "", "10.0.0.1:5000", xff("203.0.113.9, ::ffff:10.0.0.3"), "203.0.113.9"},
		{"an IPv6 trusted proxy forwards an IPv6 client", "", "[2001:db8:ffff::1]:443", xff("2001:db8:1::9"), "2001:db8:1::9"},
		{"in X-Forwarded-For mode a Forwarded header from the client is ignored", "", "10.0.0.1:5000", http.Header{"Forwarded": {"for=6.6.6.6"}, "X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9"},
		{"in X-Forwarded-For mode a lone Forwarded header leaves the proxy as the client", "", "10.0.0.1:5000", fwd("for=6.6.6.6"), "10.0.0.1"},
		{"in Forwarded mode the for= of the proxy's element is the client", admin.HeaderForwarded, "10.0.0.1:5000", fwd("for=203.0.113.9;proto=https;by=10.0.0.1"), "203.0.113.9"},
		{"in Forwarded mode an element the client prepended is ignored", admin.HeaderForwarded, "10.0.0.1:5000", fwd("for=6.6.6.6, for=203.0.113.9"), "203.0.113.9"},
		{"in Forwarded mode a quoted IPv6 address with a port is read", admin.HeaderForwarded, "10.0.0.1:5000", fwd(`for="[2001:db8::7]:4711"`), "2001:db8::7"},
		{"in Forwarded mode the parameter name is case-insensitive", admin.HeaderForwarded, "10.0.0.1:5000", fwd("proto=https;For=203.0.113.9"), "203.0.113.9"},
		{"in Forwarded mode an unknown client leaves the proxy as the client", admin.HeaderForwarded, "10.0.0.1:5000", fwd("for=unknown"), "10.0.0.1"},
		{"in Forwarded mode an obfuscated hop stops at the nearest known hop", admin.HeaderForwarded, "10.0.0.1:5000", fwd("for=6.6.6.6, for=_hidden, for=10.0.0.2"), "10.0.0.2"},
		{"in Forwarded mode an element without for= is an unknown hop", admin.HeaderForwarded, "10.0.0.1:5000", fwd("for=6.6.6.6, proto=https"), "10.0.0.1"},
		{"in Forwarded mode a comma inside quotes does not split the element", admin.HeaderForwarded, "10.0.0.1:5000", fwd(`for="6.6.6.6, for=1.1.1.1"`), "10.0.0.1"},
		{"in Forwarded mode an X-Forwarded-For header from the client is ignored", admin.HeaderForwarded, "10.0.0.1:5000", xff("6.6.6.6"), "10.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			p := newProxiedPage(t, tc.header, admin.RequestLimits{PerIP: 1000, PerIPBurst: 1000, PerSite: 1000, PerSiteBurst: 1000})
			code, got := p.post(tc.peer, tc.headers)
			if code != http.StatusOK || got != tc.want {
				t.Fatalf("answered %d with the client at %q, want 200 and %q", code, got, tc.want)
			}
		})
	}
}

// TestSpoofedForwardingCannotEscapeTheRateLimit: a client that writes a new address into the
// forwarding header for every request is still counted as itself, whether it calls dormant
// directly or through the trusted proxy; and clients behind the proxy are not all counted as
// the proxy.
func TestSpoofedForwardingCannotEscapeTheRateLimit(t *testing.T) {
	limits := admin.RequestLimits{PerIP: 1, PerIPBurst: 2, PerSite: 1000, PerSiteBurst: 1000}
	t.Run("directly", func(t *testing.T) {
		p := newProxiedPage(t, "", limits)
		for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests, http.StatusTooManyRequests} {
			if code, _ := p.post("198.51.100.7:5000", xff(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String())); code != want {
				t.Fatalf("request %d answered %d, want %d", i+1, code, want)
			}
		}
	})
	t.Run("through the trusted proxy", func(t *testing.T) {
		p := newProxiedPage(t, "", limits)
		for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests, http.StatusTooManyRequests} {
			spoof := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String()
			if code, _ := p.post("10.0.0.1:5000", xff(spoof+", 198.51.100.7")); code != want {
				t.Fatalf("request %d answered %d, want %d", i+1, code, want)
			}
		}
		if code, got := p.post("10.0.0.1:5000", xff("198.51.100.8")); code != http.StatusOK || got != "198.51.100.8" {
			t.Fatalf("another client behind the proxy answered %d (%q): the proxy was counted as one client", code, got)
		}
	})
	t.Run("a spoofed trusted address is not a way around it", func(t *testing.T) {
		p := newProxiedPage(t, "", limits)
		for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
			// The client claims to be a proxy itself; its peer is not one, so nothing it
			// writes is read.
			if code, got := p.post("198.51.100.7:5000", xff("10.0.0.9")); code != want || (code == http.StatusOK && got != "198.51.100.7") {
				t.Fatalf("request %d answered %d as %q, want %d as 198.51.100.7", i+1, code, got, want)
			}
		}
	})
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in      string
		want    string // the prefixes, comma-separated
		wantErr string
	}{
		{"", "", ""},
		{" 10.0.0.0/8 , 192.0.2.7,2001:db8::/32,", "10.0.0.0/8,192.0.2.7/32,2001:db8::/32", ""},
		{"10.1.2.3/8", "10.0.0.0/8", ""},
		{"::ffff:192.0.2.7", "192.0.2.7/32", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"10.0.0.0/33", "", `"10.0.0.0/33"`},
		{"proxy.internal", "", `"proxy.internal"`},
		{"10.0.0.0/8 192.168.0.0/16", "", `"10.0.0.0/8 192.168.0.0/16"`},
		{"fe80::1%eth0", "", `"fe80::1%eth0"`},
		{"10.0.0.0/8,*", "", `"*"`},
	}
	for _, tc := range tests {
		got, err := admin.ParseTrustedProxies(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseTrustedProxies(%q) = %v, %v; want an error naming %s", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		var parts []string
		for _, p := range got {
			parts = append(parts, p.String())
		}
		if err != nil || strings.Join(parts, ",") != tc.want {
			t.Errorf("ParseTrustedProxies(%q) = %v, %v; want %s", tc.in, parts, err, tc.want)
		}
	}
}

func TestAnUnknownProxyHeaderIsRefused(t *testing.T) {
	for _, h := range []string{"X-Real-IP", "X-Forwarded-Host", "forwarded-for"} {
		_, err := admin.New(admin.Config{SessionKey: []byte("0123456789abcdef0123456789abcdef"), ProxyHeader: h}, admin.OpenMRSAuth{}, &memBackend{}, zap.NewNop())
		if err == nil || !strings.Contains(err.Error(), h) {
			t.Errorf("ProxyHeader %q: err = %v, want a refusal naming it", h, err)
		}
	}
	for _, h := range []string{"", "x-forwarded-for", "FORWARDED"} {
		if _, err := admin.New(admin.Config{SessionKey: []byte("0123456789abcdef0123456789abcdef"), ProxyHeader: h}, admin.OpenMRSAuth{}, &memBackend{}, zap.NewNop()); err != nil {
			t.Errorf("ProxyHeader %q refused: %v", h, err)
		}
	}
}
