package admin

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// ReactivationRequest is one request of the admin page's queue, with what the projection
// knows now of the account it names.
type ReactivationRequest struct {
	ID, Username, Note, ClientIP string
	RequestedAt                  time.Time
	// Status is pending, approved or rejected.
	Status                    string
	DecidedBy, DecisionReason string
	DecidedAt                 time.Time
	// Known says the site has an account of that username; UserUUID and Retired describe it.
	Known, Retired bool
	UserUUID       string
}

// RequestLimits bound the public reactivation request page. Zero values take the defaults.
type RequestLimits struct {
	// PerIP is how many requests one client address may make per hour (default 5), in
	// bursts of up to PerIPBurst (default 3).
	PerIP      float64
	PerIPBurst int
	// PerSite is how many requests a site takes per hour from everybody together (default
	// 60), in bursts of up to PerSiteBurst (default 20): a flood from many addresses reaches
	// the admins' queue and mailboxes at that pace at most.
	PerSite      float64
	PerSiteBurst int
	// MinAnswer is the least time an accepted request takes to answer (default 400ms): the
	// work is the same for every username, and the floor hides what varies with the database.
	MinAnswer time.Duration
}

func (l RequestLimits) withDefaults() RequestLimits {
	if l.PerIP <= 0 {
		l.PerIP = 5
	}
	if l.PerIPBurst <= 0 {
		l.PerIPBurst = 3
	}
	if l.PerSite <= 0 {
		l.PerSite = 60
	}
	if l.PerSiteBurst <= 0 {
		l.PerSiteBurst = 20
	}
	if l.MinAnswer <= 0 {
		l.MinAnswer = 400 * time.Millisecond
	}
	return l
}

// requestGate rate-limits the public page per client address and per site (token buckets).
// Addresses not seen for an hour are forgotten, so the map stays small.
type requestGate struct {
	limits RequestLimits
	mu     sync.Mutex
	ips    map[string]*ipBucket
	sites  map[string]*rate.Limiter
	swept  time.Time
}

type ipBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newRequestGate(l RequestLimits) *requestGate {
	return &requestGate{limits: l.withDefaults(), ips: map[string]*ipBucket{}, sites: map[string]*rate.Limiter{}}
}

// allow takes a token from the address's and the site's buckets; when either is empty,
// nothing is taken and it says how long to wait.
func (g *requestGate) allow(site, ip string, now time.Time) (bool, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Sub(g.swept) > time.Hour {
		for k, b := range g.ips {
			if now.Sub(b.seen) > time.Hour {
				delete(g.ips, k)
			}
		}
		g.swept = now
	}
	key := site + "|" + ip
	b := g.ips[key]
	if b == nil {
		b = &ipBucket{lim: rate.NewLimiter(rate.Limit(g.limits.PerIP/3600), g.limits.PerIPBurst)}
		g.ips[key] = b
	}
	b.seen = now
	s := g.sites[site]
	if s == nil {
		s = rate.NewLimiter(rate.Limit(g.limits.PerSite/3600), g.limits.PerSiteBurst)
		g.sites[site] = s
	}
	ri, rs := b.lim.ReserveN(now, 1), s.ReserveN(now, 1)
	wait := max(ri.DelayFrom(now), rs.DelayFrom(now))
	if wait > 0 {
		ri.CancelAt(now)
		rs.CancelAt(now)
		return false, wait
	}
	return true, 0
}

func (s *Server) requestRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /request-reactivation", s.requestForm)
	mux.HandleFunc("POST /request-reactivation", s.requestSubmit)
	mux.HandleFunc("GET /sites/{site}/requests", s.admin(s.requestQueue))
	mux.HandleFunc("POST /sites/{site}/requests/{id}/approve", s.admin(s.csrfAdmin(s.approveRequest)))
	mux.HandleFunc("POST /sites/{site}/requests/{id}/reject", s.admin(s.csrfAdmin(s.rejectRequest)))
	s.auditRoutes(mux)
}

type publicRequestData struct {
	Username, Note string
	Done           bool
}

func (s *Server) knownSite(site string) bool {
	for _, x := range s.sites {
		if x == site {
			return true
		}
	}
	return false
}

// requestForm is the public page: no sign-in, an anonymous session for the CSRF token.
func (s *Server) requestForm(w http.ResponseWriter, r *http.Request) {
	sess := s.session(w, r)
	site := r.URL.Query().Get("site")
	if !s.knownSite(site) {
		s.render(w, r, http.StatusNotFound, "request_public", view{Title: "Ask for your account back", Session: sess, Error: "There is no such site. Use the link your site's admins gave you."})
		return
	}
	s.render(w, r, http.StatusOK, "request_public", view{Title: "Ask for your account back", Session: sess, Site: site, Data: publicRequestData{}})
}

// requestSubmit takes a request. Whatever the username (an account, a retired one, or none
// at all) the answer is the same page, after the same work and at least MinAnswer: the page
// must not tell anybody which accounts exist.
func (s *Server) requestSubmit(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sess, _ := s.sessions.get(r)
	site := r.PostFormValue("site")
	v := view{Title: "Ask for your account back", Session: sess, Site: site}
	if !s.knownSite(site) {
		v.Site, v.Error = "", "There is no such site. Use the link your site's admins gave you."
		s.render(w, r, http.StatusNotFound, "request_public", v)
		return
	}
	ip := s.clients.of(r)
	if ok, wait := s.gate.allow(site, ip, s.now()); !ok {
		s.log.Warn("reactivation request refused: rate limit", zap.String("site", site), zap.String("client_ip", ip))
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		v.Error = "Too many requests have come from here or for this site. Please try again later."
		v.Data = publicRequestData{}
		s.render(w, r, http.StatusTooManyRequests, "request_public", v)
		return
	}
	token := r.PostFormValue(csrfField)
	if !s.sessions.validCSRF(sess, token) {
		s.log.Warn("reactivation request refused: missing or wrong CSRF token", zap.String("site", site))
		http.Error(w, "This form has expired or did not come from dormant. Go back, reload the page and try again.", http.StatusForbidden)
		return
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	note := strings.TrimSpace(r.PostFormValue("note"))
	d := publicRequestData{Username: username, Note: note}
	switch {
	case username == "" || len(username) > 50 || strings.IndexFunc(username, unicode.IsControl) >= 0:
		v.Error = "Give your username: what you typed to log in (at most 50 characters)."
	case len(note) > 1024 || strings.IndexFunc(note, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) >= 0:
		v.Error = "The note is too long: at most 1024 characters."
	}
	if v.Error != "" {
		v.Data = d
		s.render(w, r, http.StatusBadRequest, "request_public", v)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	if err := s.backend.RequestReactivation(ctx, site, username, note, ip); err != nil {
		s.log.Error("reactivation request could not be taken", zap.String("site", site), zap.Error(err))
		v.Error, v.Data = "Your request could not be taken just now. Please try again later.", d
		s.render(w, r, http.StatusServiceUnavailable, "request_public", v)
		return
	}
	if rest := s.gate.limits.MinAnswer - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	d.Done = true
	v.Data = d
	s.render(w, r, http.StatusOK, "request_public", v)
}

type requestsData struct {
	Pending, Decided []ReactivationRequest
}

func (s *Server) requestQueue(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	rows, err := s.backend.ReactivationRequests(r.Context(), site)
	if err != nil {
		s.fail(w, r, sess, site, "The reactivation requests", err)
		return
	}
	var d requestsData
	for _, q := range rows {
		if q.Status == "pending" {
			d.Pending = append(d.Pending, q)
		} else {
			d.Decided = append(d.Decided, q)
		}
	}
	s.render(w, r, http.StatusOK, "requests", view{Title: "Reactivation requests", Session: sess, Site: site, Data: d})
}

func (s *Server) approveRequest(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	err := s.backend.ApproveRequest(r.Context(), site, r.PathValue("id"), sess.Username)
	s.done(w, r, sess, site, sitePath(site, "requests"), "The account was reactivated and has a fresh grace period.", err)
}

func (s *Server) rejectRequest(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	var err error
	if reason == "" {
		err = fmt.Errorf("%w: say why the request is rejected", ErrInvalid)
	} else {
		err = s.backend.RejectRequest(r.Context(), site, r.PathValue("id"), sess.Username, reason)
	}
	s.done(w, r, sess, site, sitePath(site, "requests"), "The request was rejected.", err)
}
