package service

import (
	"crypto/sha256"
	"crypto/subtle"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/platform/siteconfig"
)

// siteToken is one accepted bearer token: only its hash is kept, with the site it admits and
// the name logs and metrics show for it.
type siteToken struct {
	site, name string
	hash       [sha256.Size]byte
	// used is set at the first request the token authenticates, so the log says once when a
	// rotation's new token comes into use.
	used atomic.Bool
}

// tokenSet is every site's accepted tokens. A site may have several at once (ingest_token_env
// and ingest_tokens), which is what lets a token be rotated without refusing the hook.
type tokenSet struct {
	log    *zap.Logger
	tokens []*siteToken
	// requests counts the requests each token authenticated: a rotation is finished when the
	// old token's count stops moving.
	requests *prometheus.CounterVec
}

// shortLegacyToken is below siteconfig.MinIngestTokenLength: the old single token is not held
// to it, so that existing installations keep starting, but the log asks for a rotation.
func shortLegacyToken(c siteconfig.IngestCredential) bool {
	return c.Legacy && len(c.Token) < siteconfig.MinIngestTokenLength
}

// newTokenSet reads every site's tokens from the environment (refusing empty, short or shared
// ones: siteconfig.IngestCredentials) and registers their request counter.
func newTokenSet(sites *siteconfig.File, log *zap.Logger, reg prometheus.Registerer) (*tokenSet, error) {
	creds, err := sites.IngestCredentials()
	if err != nil {
		return nil, err
	}
	ts := &tokenSet{
		log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dormant_ingest_http_token_requests_total",
			Help: "HTTP intake requests authenticated, by site and token name (the name in the sites file, never the token).",
		}, []string{"site", "token"}),
	}
	if err := reg.Register(ts.requests); err != nil {
		return nil, err
	}
	for _, c := range creds {
		ts.tokens = append(ts.tokens, &siteToken{site: c.Site, name: c.Name, hash: sha256.Sum256([]byte(c.Token))})
		// Every token's series exists from the start, at zero: an old token that is never
		// used again shows as a flat line, not as a missing one.
		ts.requests.WithLabelValues(c.Site, c.Name)
		if shortLegacyToken(c) {
			log.Warn("ingest token is shorter than the minimum; rotate it through ingest_tokens (docs/operations.md)",
				zap.String("site", c.Site), zap.String("token", c.Name), zap.String("key", c.Key), zap.Int("minimum", siteconfig.MinIngestTokenLength))
		}
	}
	return ts, nil
}

// match returns the token tok is. Every configured token is compared, in constant time and
// without an early exit, so the answer's timing says nothing about which token, or which
// site's, a guess came close to. The hashes make the comparisons fixed-length.
func (ts *tokenSet) match(tok string) (*siteToken, bool) {
	h := sha256.Sum256([]byte(tok))
	idx, found := 0, 0
	for i, t := range ts.tokens {
		eq := subtle.ConstantTimeCompare(h[:], t.hash[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	if found != 1 {
		return nil, false
	}
	return ts.tokens[idx], true
}

// siteForToken returns the site whose ingest token tok is, and counts the request against the
// token's name.
func (in *Ingest) siteForToken(tok string) (string, bool) {
	t, ok := in.tokens.match(tok)
	if !ok {
		return "", false
	}
	in.tokens.requests.WithLabelValues(t.site, t.name).Inc()
	if !t.used.Swap(true) {
		in.tokens.log.Info("ingest token in use", zap.String("site", t.site), zap.String("token", t.name))
	}
	return t.site, true
}
