package service

import (
	"strings"
	"testing"
)

// TestAdminOptionsNameTheBadVariable: a trusted-proxy list or proxy header dormant cannot
// use stops the start with the variable named, rather than believing every header or none.
func TestAdminOptionsNameTheBadVariable(t *testing.T) {
	tests := []struct {
		rule            string
		proxies, header string
		want            string // "" for valid
	}{
		{"the defaults are valid", "", "X-Forwarded-For", ""},
		{"prefixes and addresses are valid", "10.0.0.0/8, 192.0.2.7, 2001:db8::/32", "Forwarded", ""},
		{"a prefix too long is refused", "10.0.0.0/40", "X-Forwarded-For", "DORMANT_ADMIN_TRUSTED_PROXIES"},
		{"a host name is refused", "proxy.internal", "X-Forwarded-For", "DORMANT_ADMIN_TRUSTED_PROXIES"},
		{"a wildcard is refused", "*", "X-Forwarded-For", "DORMANT_ADMIN_TRUSTED_PROXIES"},
		{"another header is refused", "10.0.0.0/8", "X-Real-IP", "DORMANT_ADMIN_PROXY_HEADER"},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			o := DefaultOptions().Admin
			o.TrustedProxies, o.ProxyHeader = tc.proxies, tc.header
			err := o.validate()
			if tc.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
	if o := DefaultOptions().Admin; o.TrustedProxies != "" || o.ProxyHeader != "X-Forwarded-For" {
		t.Fatalf("defaults: trusted proxies %q, header %q; want none and X-Forwarded-For", o.TrustedProxies, o.ProxyHeader)
	}
}
