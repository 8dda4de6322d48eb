// Package admin is dormant's admin web page: server-rendered HTML (html/template, assets
// embedded, no JavaScript needed) for OpenMRS admins, signed in with their OpenMRS account.
package admin

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config shapes the admin page.
type Config struct {
	// SessionKey signs and encrypts session cookies: at least 32 bytes, the same on every
	// replica. Changing it signs everybody out.
	SessionKey []byte
	// SessionTTL is how long a sign-in lasts.
	SessionTTL time.Duration
	// SecureCookies marks cookies Secure: set it when dormant is served over HTTPS.
	SecureCookies bool
	// Sites lists the site ids an admin can sign in to.
	Sites []string
	// Now is the clock, replaceable in tests.
	Now func() time.Time
	// Requests limits the public reactivation request page (requests.go).
	Requests RequestLimits
	// TrustedProxies are the reverse proxies whose forwarding header (ProxyHeader) names
	// the client (clientip.go). Empty: the peer's address is the client's, whatever the
	// headers say.
	TrustedProxies []netip.Prefix
	// ProxyHeader is the header the trusted proxies set: X-Forwarded-For (the default) or
	// Forwarded. Only that one is read: a proxy passes the other on from the client as sent.
	ProxyHeader string
}

// Server serves the admin page.
type Server struct {
	log      *zap.Logger
	auth     Authenticator
	backend  Backend
	sessions *sessions
	sites    []string
	pages    map[string]*template.Template
	now      func() time.Time
	gate     *requestGate
	clients  clientAddrs
}

// New builds the admin page.
func New(cfg Config, auth Authenticator, backend Backend, log *zap.Logger) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	sess, err := newSessions(cfg.SessionKey, cfg.SessionTTL, cfg.SecureCookies, cfg.Now)
	if err != nil {
		return nil, err
	}
	clients, err := newClientAddrs(cfg.TrustedProxies, cfg.ProxyHeader)
	if err != nil {
		return nil, err
	}
	s := &Server{log: log, auth: auth, backend: backend, sessions: sess, now: cfg.Now, pages: map[string]*template.Template{}, gate: newRequestGate(cfg.Requests), clients: clients}
	s.sites = append(s.sites, cfg.Sites...)
	sort.Strings(s.sites)
	names, err := fs.Glob(templateFS, "templates/page_*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("admin template %s: %w", n, err)
		}
		s.pages[n[len("templates/page_"):len(n)-len(".html")]] = t
	}
	return s, nil
}

// Routes adds the admin page to mux.
func (s *Server) Routes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /signin", s.signinForm)
	mux.HandleFunc("POST /signin", s.csrf(s.signin))
	mux.HandleFunc("POST /signout", s.csrf(s.signout))
	mux.HandleFunc("GET /sites/{site}/{$}", s.admin(s.overview))
	s.pageRoutes(mux)
	s.apiRoutes(mux)
	s.requestRoutes(mux)
}

// view is what every page template gets.
type view struct {
	Title   string
	Session Session
	CSRF    string
	Sites   []string
	Site    string
	Error   string
	Notice  string
	Data    any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, page string, v view) {
	t, ok := s.pages[page]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	v.Sites = s.sites
	v.CSRF = s.sessions.csrfToken(v.Session)
	if f := s.sessions.takeFlash(w, r); f != (flash{}) {
		v.Notice = f.Notice
		if v.Error == "" {
			v.Error = f.Error
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.WriteHeader(code)
	if err := t.Execute(w, v); err != nil {
		s.log.Error("render admin page", zap.String("page", page), zap.Error(err))
	}
}

// session returns the request's session, saving a new anonymous one so the next form post
// can be checked against its CSRF token.
func (s *Server) session(w http.ResponseWriter, r *http.Request) Session {
	sess, existed := s.sessions.get(r)
	if !existed {
		if err := s.sessions.save(w, sess); err != nil {
			s.log.Error("save session", zap.Error(err))
		}
	}
	return sess
}

// csrf refuses a state-changing request whose token (form field or X-CSRF-Token header)
// does not belong to the caller's session.
func (s *Server) csrf(next func(http.ResponseWriter, *http.Request, Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, _ := s.sessions.get(r)
		token := r.Header.Get(csrfHeader)
		if token == "" {
			token = r.PostFormValue(csrfField)
		}
		if !s.sessions.validCSRF(sess, token) {
			s.log.Warn("admin form refused: missing or wrong CSRF token", zap.String("path", r.URL.Path))
			http.Error(w, "This form has expired or did not come from dormant. Go back, reload the page and try again.", http.StatusForbidden)
			return
		}
		next(w, r, sess)
	}
}

// admin lets only an admin signed in to the page's site through.
func (s *Server) admin(next func(http.ResponseWriter, *http.Request, Session, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.session(w, r)
		site := r.PathValue("site")
		if !sess.SignedIn() || sess.Site != site {
			http.Redirect(w, r, "/signin?site="+url.QueryEscape(site)+"&next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next(w, r, sess, site)
	}
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	sess := s.session(w, r)
	if sess.SignedIn() {
		http.Redirect(w, r, "/sites/"+url.PathEscape(sess.Site)+"/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) {
	sess := s.session(w, r)
	site := r.URL.Query().Get("site")
	if site == "" && len(s.sites) > 0 {
		site = s.sites[0]
	}
	s.render(w, r, http.StatusOK, "signin", view{Title: "Sign in", Session: sess, Site: site, Data: signinData{Next: r.URL.Query().Get("next")}})
}

type signinData struct {
	Username, Next string
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request, sess Session) {
	site, user, next := r.PostFormValue("site"), r.PostFormValue("username"), r.PostFormValue("next")
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	p, err := s.auth.Authenticate(ctx, site, user, r.PostFormValue("password"))
	if err != nil {
		code := http.StatusUnauthorized
		if errors.Is(err, ErrNotPermitted) {
			code = http.StatusForbidden
		}
		msg := err.Error()
		if errors.Is(err, ErrSiteOffline) {
			msg = ErrSiteOffline.Error()
			s.log.Warn("admin sign-in: OpenMRS unreachable", zap.String("site", site), zap.Error(err))
		}
		s.log.Info("admin sign-in refused", zap.String("site", site), zap.String("username", user), zap.String("why", msg))
		s.render(w, r, code, "signin", view{Title: "Sign in", Session: sess, Site: site, Error: msg, Data: signinData{Username: user, Next: next}})
		return
	}
	// A new session id on sign-in, so an id planted before sign-in (session fixation) is useless.
	signed := Session{ID: randomID(), Site: p.Site, Username: p.Username, UserUUID: p.UserUUID, Display: p.Display, Expires: s.now().Add(s.sessions.ttl)}
	if err := s.sessions.save(w, signed); err != nil {
		http.Error(w, "could not start the session", http.StatusInternalServerError)
		return
	}
	s.log.Info("admin signed in", zap.String("site", p.Site), zap.String("username", p.Username))
	target := "/sites/" + url.PathEscape(p.Site) + "/"
	if localPath(next) {
		target = next
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request, sess Session) {
	s.sessions.clear(w)
	s.log.Info("admin signed out", zap.String("site", sess.Site), zap.String("username", sess.Username))
	s.sessions.setFlash(w, flash{Notice: "Signed out."})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	o, err := s.backend.Overview(r.Context(), site, s.now())
	if err != nil {
		s.log.Error("admin overview", zap.String("site", site), zap.Error(err))
		s.render(w, r, http.StatusInternalServerError, "error", view{Title: "Error", Session: sess, Site: site, Error: "The overview could not be loaded; the error is in dormant's log."})
		return
	}
	s.render(w, r, http.StatusOK, "overview", view{Title: "Overview", Session: sess, Site: site, Data: overviewData{Overview: o, Chart: histogramSVG(o)}})
}

// localPath accepts only a path on this server as a place to return to after sign-in, never
// another host: browsers read "//host" and "/\\host" as other hosts, so neither is allowed.
func localPath(next string) bool {
	if next == "" || next[0] != '/' || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "//") {
		return false
	}
	u, err := url.Parse(next)
	return err == nil && u.Host == "" && u.Scheme == ""
}
