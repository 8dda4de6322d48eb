package admin

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The forwarding headers a trusted proxy may set (Config.ProxyHeader).
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded"
)

// ParseTrustedProxies reads a comma-separated list of CIDR prefixes ("10.0.0.0/8",
// "2001:db8::/32") or single addresses ("192.0.2.7", taken as /32 or /128).
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			if p.Addr().Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q: a zone is not allowed", part)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted proxy %q: want a CIDR prefix (10.0.0.0/8) or an address", part)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// clientAddrs finds the address of the client behind a request. The peer's own address is
// the answer unless the peer is a trusted proxy; then the proxy's forwarding header is read
// from the right (the hop nearest to dormant) and the first address not itself a trusted
// proxy is the client. Everything left of it was written by that untrusted client, who can
// write anything there, so it is never read.
type clientAddrs struct {
	trusted []netip.Prefix
	header  string
}

func newClientAddrs(trusted []netip.Prefix, header string) (clientAddrs, error) {
	switch {
	case header == "" || strings.EqualFold(header, HeaderXForwardedFor):
		header = HeaderXForwardedFor
	case strings.EqualFold(header, HeaderForwarded):
		header = HeaderForwarded
	default:
		return clientAddrs{}, fmt.Errorf("proxy header %q: want %s or %s", header, HeaderXForwardedFor, HeaderForwarded)
	}
	return clientAddrs{trusted: trusted, header: header}, nil
}

func (c clientAddrs) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// of returns the client's address as text ("" when even the peer's is not an address).
func (c clientAddrs) of(r *http.Request) string {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok {
		return ""
	}
	if !c.isTrusted(peer) {
		return peer.String()
	}
	var hops []string
	if c.header == HeaderForwarded {
		hops = forwardedFor(r.Header.Values(HeaderForwarded))
	} else {
		for _, v := range r.Header.Values(HeaderXForwardedFor) {
			hops = append(hops, strings.Split(v, ",")...)
		}
	}
	nearest := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			// A trusted proxy did not know its peer ("unknown", an obfuscated name) or the
			// header is broken: the nearest hop known is the best answer there is.
			return nearest.String()
		}
		if !c.isTrusted(a) {
			return a.String()
		}
		nearest = a
	}
	// Every hop is a trusted proxy: the client sits inside a trusted range itself.
	return nearest.String()
}

// parseHop reads one address as the headers and RemoteAddr write it: "192.0.2.1",
// "192.0.2.1:443", "2001:db8::1", "[2001:db8::1]:443", with IPv4-mapped IPv6 as IPv4.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// forwardedFor lists the for= value of each element of Forwarded headers (RFC 7239), in
// order; an element without one gives "" (an unknown hop). Quoted strings may hold commas
// and semicolons.
func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, element := range splitQuoted(v, ',') {
			found := ""
			for _, pair := range splitQuoted(element, ';') {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					val = strings.TrimSpace(val)
					if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
						val = strings.ReplaceAll(val[1:len(val)-1], `\`, "")
					}
					found = val
				}
			}
			out = append(out, found)
		}
	}
	return out
}

// splitQuoted splits s at sep outside double quotes (a backslash escapes inside them).
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
