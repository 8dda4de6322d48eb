package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// The JSON API offers the page's actions to scripts and other tools, with the same sign-in
// (the session cookie from POST /api/v1/session) and the same CSRF rule (header
// X-CSRF-Token on every change). schemas/admin-openapi.yaml documents it.
func (s *Server) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/session", s.apiSignIn)
	mux.HandleFunc("DELETE /api/v1/session", s.apiAdmin(true, s.apiSignOut))
	mux.HandleFunc("GET /api/v1/sites/{site}/overview", s.apiAdmin(false, s.apiGet(func(r *http.Request, site string) (any, error) {
		return s.backend.Overview(r.Context(), site, s.now())
	})))
	mux.HandleFunc("GET /api/v1/sites/{site}/upcoming", s.apiAdmin(false, s.apiGet(s.apiUpcoming)))
	mux.HandleFunc("GET /api/v1/sites/{site}/history", s.apiAdmin(false, s.apiGet(func(r *http.Request, site string) (any, error) {
		return s.backend.History(r.Context(), site, s.historyFilter(r))
	})))
	mux.HandleFunc("GET /api/v1/sites/{site}/retired", s.apiAdmin(false, s.apiGet(func(r *http.Request, site string) (any, error) {
		return s.backend.Retired(r.Context(), site)
	})))
	mux.HandleFunc("GET /api/v1/sites/{site}/held", s.apiAdmin(false, s.apiGet(func(r *http.Request, site string) (any, error) {
		return s.backend.HeldBatches(r.Context(), site)
	})))
	mux.HandleFunc("GET /api/v1/sites/{site}/exemptions", s.apiAdmin(false, s.apiGet(func(r *http.Request, site string) (any, error) {
		return s.backend.Exemptions(r.Context(), site, s.now())
	})))
	mux.HandleFunc("GET /api/v1/sites/{site}/policy", s.apiAdmin(false, s.apiGet(func(r *http.Request, site string) (any, error) {
		return s.backend.Policy(r.Context(), site)
	})))
	mux.HandleFunc("GET /api/v1/sites/{site}/whatif", s.apiAdmin(false, s.apiGet(func(r *http.Request, site string) (any, error) {
		at := s.now()
		if v := r.URL.Query().Get("at"); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return nil, errors.Join(ErrInvalid, errors.New("at: want an RFC 3339 time"))
			}
			at = t
		}
		overrides := map[string]string{}
		for _, k := range whatIfKeys {
			if v := r.URL.Query().Get(k); v != "" {
				overrides[k] = v
			}
		}
		return s.backend.WhatIf(r.Context(), site, at, overrides)
	})))
	mux.HandleFunc("GET /api/v1/sites/{site}/audit", s.apiAdmin(false, s.apiGet(func(r *http.Request, site string) (any, error) {
		from, to, err := auditPeriod(r)
		if err != nil {
			return nil, err
		}
		return s.backend.Audit(r.Context(), site, from, to)
	})))
	mux.HandleFunc("GET /api/v1/sites/{site}/requests", s.apiAdmin(false, s.apiGet(func(r *http.Request, site string) (any, error) {
		status := r.URL.Query().Get("status")
		if status != "" && !slices.Contains(requestStatuses, status) {
			return nil, fmt.Errorf("%w: status %q: want one of %s", ErrInvalid, truncate(status, 40), strings.Join(requestStatuses, ", "))
		}
		all, err := s.backend.ReactivationRequests(r.Context(), site)
		if err != nil {
			return nil, err
		}
		out := []ReactivationRequest{}
		for _, q := range all {
			if status == "" || q.Status == status {
				out = append(out, q)
			}
		}
		return out, nil
	})))
	mux.HandleFunc("POST /api/v1/sites/{site}/requests/{id}/approve", s.apiAdmin(true, s.apiChange(func(r *http.Request, site, by string, b apiBody) error {
		if b != (apiBody{}) {
			return errors.Join(ErrInvalid, errors.New("an approval takes no body: the request's note is the reason"))
		}
		id, err := requestID(r)
		if err != nil {
			return err
		}
		return s.backend.ApproveRequest(r.Context(), site, id, by)
	})))
	mux.HandleFunc("POST /api/v1/sites/{site}/requests/{id}/reject", s.apiAdmin(true, s.apiChange(func(r *http.Request, site, by string, b apiBody) error {
		if strings.TrimSpace(b.Reason) == "" {
			return errors.Join(ErrInvalid, errors.New("reason is required"))
		}
		if b.User != "" || b.Until != nil {
			return errors.Join(ErrInvalid, errors.New("a rejection takes only a reason"))
		}
		if err := checkText("reason", b.Reason, maxReason); err != nil {
			return err
		}
		id, err := requestID(r)
		if err != nil {
			return err
		}
		return s.backend.RejectRequest(r.Context(), site, id, by, strings.TrimSpace(b.Reason))
	})))
	mux.HandleFunc("POST /api/v1/sites/{site}/held/{batch}/approve", s.apiAdmin(true, s.apiChange(func(r *http.Request, site, by string, _ apiBody) error {
		return s.backend.ApproveHeld(r.Context(), site, r.PathValue("batch"), by)
	})))
	mux.HandleFunc("POST /api/v1/sites/{site}/held/{batch}/reject", s.apiAdmin(true, s.apiChange(func(r *http.Request, site, by string, _ apiBody) error {
		return s.backend.RejectHeld(r.Context(), site, r.PathValue("batch"), by)
	})))
	mux.HandleFunc("POST /api/v1/sites/{site}/exemptions", s.apiAdmin(true, s.apiChange(func(r *http.Request, site, by string, b apiBody) error {
		if strings.TrimSpace(b.User) == "" || strings.TrimSpace(b.Reason) == "" {
			return errors.Join(ErrInvalid, errors.New("user and reason are required"))
		}
		if err := errors.Join(checkText("user", b.User, maxUserRef), checkText("reason", b.Reason, maxReason)); err != nil {
			return err
		}
		if b.Until != nil && !b.Until.After(s.now()) {
			return errors.Join(ErrInvalid, errors.New("until is in the past"))
		}
		return s.backend.AddExemption(r.Context(), site, b.User, b.Reason, b.Until, by)
	})))
	mux.HandleFunc("POST /api/v1/sites/{site}/exemptions/{user}/end", s.apiAdmin(true, s.apiChange(func(r *http.Request, site, by string, _ apiBody) error {
		return s.backend.EndExemption(r.Context(), site, r.PathValue("user"), by)
	})))
	mux.HandleFunc("POST /api/v1/sites/{site}/users/{user}/reactivate", s.apiAdmin(true, s.apiChange(func(r *http.Request, site, by string, b apiBody) error {
		if strings.TrimSpace(b.Reason) == "" {
			return errors.Join(ErrInvalid, errors.New("reason is required"))
		}
		if err := checkText("reason", b.Reason, maxReason); err != nil {
			return err
		}
		return s.backend.Reactivate(r.Context(), site, r.PathValue("user"), by, b.Reason)
	})))
}

// requestStatuses are the statuses a reactivation request can have.
var requestStatuses = []string{"pending", "approved", "rejected"}

// requestIDPattern is the shape of the ids the request store makes (hex, or letters, digits, - and _); anything else is
// refused before it reaches the store.
var requestIDPattern = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)

func requestID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !requestIDPattern.MatchString(id) {
		return "", fmt.Errorf("%w: %q is not a request id", ErrInvalid, truncate(id, 70))
	}
	return id, nil
}

// truncate shortens what is echoed back in an error.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// apiBody is the JSON body of a change.
type apiBody struct {
	User   string     `json:"user,omitempty"`
	Reason string     `json:"reason,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// apiAdmin checks the session (401 when signed out, 403 for another site) and, for changes,
// the CSRF header.
func (s *Server) apiAdmin(change bool, next func(http.ResponseWriter, *http.Request, Session, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.sessions.get(r)
		site := r.PathValue("site")
		switch {
		case !ok || !sess.SignedIn():
			writeJSON(w, http.StatusUnauthorized, apiError{"sign in first: POST /api/v1/session"})
		case site != "" && sess.Site != site:
			writeJSON(w, http.StatusForbidden, apiError{"signed in to site " + sess.Site + ", not " + site})
		case change && !s.sessions.validCSRF(sess, r.Header.Get(csrfHeader)):
			writeJSON(w, http.StatusForbidden, apiError{"missing or wrong X-CSRF-Token header"})
		default:
			next(w, r, sess, site)
		}
	}
}

func (s *Server) apiGet(get func(*http.Request, string) (any, error)) func(http.ResponseWriter, *http.Request, Session, string) {
	return func(w http.ResponseWriter, r *http.Request, sess Session, site string) {
		v, err := get(r, site)
		if err != nil {
			s.apiFail(w, r, site, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *Server) apiChange(change func(*http.Request, string, string, apiBody) error) func(http.ResponseWriter, *http.Request, Session, string) {
	return func(w http.ResponseWriter, r *http.Request, sess Session, site string) {
		var b apiBody
		if r.ContentLength != 0 {
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&b); err != nil {
				writeJSON(w, http.StatusBadRequest, apiError{"body: " + err.Error()})
				return
			}
		}
		if err := change(r, site, sess.Username, b); err != nil {
			s.apiFail(w, r, site, err)
			return
		}
		s.log.Info("admin change", zap.String("site", site), zap.String("path", r.URL.Path), zap.String("by", sess.Username))
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	}
}

func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, site string, err error) {
	if errors.Is(err, ErrInvalid) {
		writeJSON(w, http.StatusUnprocessableEntity, apiError{strings.TrimPrefix(strings.ReplaceAll(err.Error(), "\n", ": "), ErrInvalid.Error()+": ")})
		return
	}
	s.log.Error("admin api", zap.String("site", site), zap.String("path", r.URL.Path), zap.Error(err))
	writeJSON(w, http.StatusInternalServerError, apiError{"internal error; the detail is in dormant's log"})
}

type apiCredentials struct {
	Site     string `json:"site"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) apiSignIn(w http.ResponseWriter, r *http.Request) {
	var c apiCredentials
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"body: " + err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	p, err := s.auth.Authenticate(ctx, c.Site, c.Username, c.Password)
	if err != nil {
		code := http.StatusUnauthorized
		if errors.Is(err, ErrNotPermitted) {
			code = http.StatusForbidden
		}
		msg := err.Error()
		if errors.Is(err, ErrSiteOffline) {
			msg = ErrSiteOffline.Error()
		}
		s.log.Info("admin api sign-in refused", zap.String("site", c.Site), zap.String("username", c.Username), zap.String("why", msg))
		writeJSON(w, code, apiError{msg})
		return
	}
	sess := Session{ID: randomID(), Site: p.Site, Username: p.Username, UserUUID: p.UserUUID, Display: p.Display, Expires: s.now().Add(s.sessions.ttl)}
	if err := s.sessions.save(w, sess); err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{"could not start the session"})
		return
	}
	s.log.Info("admin signed in (api)", zap.String("site", p.Site), zap.String("username", p.Username))
	writeJSON(w, http.StatusOK, map[string]string{"site": p.Site, "username": p.Username, "csrf_token": s.sessions.csrfToken(sess), "expires": sess.Expires.UTC().Format(time.RFC3339)})
}

func (s *Server) apiSignOut(w http.ResponseWriter, r *http.Request, sess Session, _ string) {
	s.sessions.clear(w)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
