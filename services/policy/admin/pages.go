package admin

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"
)

// pageSize is how many rows a list page shows at once.
const pageSize = 50

func (s *Server) pageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /sites/{site}/upcoming", s.admin(s.upcoming))
	mux.HandleFunc("GET /sites/{site}/warnings", s.admin(s.warnings))
	mux.HandleFunc("GET /sites/{site}/retired", s.admin(s.retired))
	mux.HandleFunc("POST /sites/{site}/users/{user}/reactivate", s.admin(s.csrfAdmin(s.reactivate)))
	mux.HandleFunc("GET /sites/{site}/held", s.admin(s.held))
	mux.HandleFunc("POST /sites/{site}/held/{batch}/approve", s.admin(s.csrfAdmin(s.approve)))
	mux.HandleFunc("POST /sites/{site}/held/{batch}/reject", s.admin(s.csrfAdmin(s.reject)))
	mux.HandleFunc("GET /sites/{site}/exemptions", s.admin(s.exemptions))
	mux.HandleFunc("POST /sites/{site}/exemptions", s.admin(s.csrfAdmin(s.addExemption)))
	mux.HandleFunc("POST /sites/{site}/exemptions/{user}/end", s.admin(s.csrfAdmin(s.endExemption)))
	mux.HandleFunc("GET /sites/{site}/history", s.admin(s.history))
	mux.HandleFunc("GET /sites/{site}/history.csv", s.admin(s.historyCSV))
	mux.HandleFunc("GET /sites/{site}/policy", s.admin(s.policy))
	mux.HandleFunc("GET /sites/{site}/users/{user}", s.admin(s.userHandover))
}

// csrfAdmin checks the CSRF token of an admin's form.
func (s *Server) csrfAdmin(next func(http.ResponseWriter, *http.Request, Session, string)) func(http.ResponseWriter, *http.Request, Session, string) {
	return func(w http.ResponseWriter, r *http.Request, sess Session, site string) {
		token := r.Header.Get(csrfHeader)
		if token == "" {
			token = r.PostFormValue(csrfField)
		}
		if !s.sessions.validCSRF(sess, token) {
			s.log.Warn("admin form refused: missing or wrong CSRF token", zap.String("path", r.URL.Path), zap.String("username", sess.Username))
			http.Error(w, "This form has expired or did not come from dormant. Go back, reload the page and try again.", http.StatusForbidden)
			return
		}
		next(w, r, sess, site)
	}
}

// fail renders an error page for a backend failure, logging the detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess Session, site, what string, err error) {
	s.log.Error("admin page", zap.String("site", site), zap.String("what", what), zap.Error(err))
	s.render(w, r, http.StatusInternalServerError, "error", view{Title: "Error", Session: sess, Site: site,
		Error: fmt.Sprintf("%s could not be loaded; the error is in dormant's log.", what)})
}

// done redirects after a change with a notice, or shows why the change was refused.
func (s *Server) done(w http.ResponseWriter, r *http.Request, sess Session, site, back, notice string, err error) {
	switch {
	case errors.Is(err, ErrInvalid):
		s.sessions.setFlash(w, flash{Error: strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")})
	case err != nil:
		s.log.Error("admin change failed", zap.String("site", site), zap.String("path", r.URL.Path), zap.String("by", sess.Username), zap.Error(err))
		s.sessions.setFlash(w, flash{Error: "The change failed; the error is in dormant's log."})
	default:
		s.log.Info("admin change", zap.String("site", site), zap.String("path", r.URL.Path), zap.String("by", sess.Username))
		s.sessions.setFlash(w, flash{Notice: notice})
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// Bounds on what an admin types: a reason is kept in the history and sent to OpenMRS; a
// user is named by username (50 characters in OpenMRS) or uuid (36).
const (
	maxReason  = 1000
	maxUserRef = 100
)

// checkText refuses free text no store should take: longer than max characters, not
// UTF-8, or holding NUL or other control characters than tab and newline.
func checkText(what, s string, max int) error {
	switch {
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: the %s is not valid text (UTF-8)", ErrInvalid, what)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }):
		return fmt.Errorf("%w: the %s holds control characters", ErrInvalid, what)
	case utf8.RuneCountInString(s) > max:
		return fmt.Errorf("%w: the %s is longer than %d characters", ErrInvalid, what, max)
	}
	return nil
}

func sitePath(site, page string) string { return "/sites/" + url.PathEscape(site) + "/" + page }

type upcomingData struct {
	Rows               []Upcoming
	Query, Sort        string
	Page, Pages, Total int
	Prev, Next         string
}

// upcomingSorts are the sort keys the upcoming page offers; any other shows the default.
var upcomingSorts = map[string]bool{"": true, "user": true, "login": true, "rule": true}

// maxSearch bounds the upcoming page's search text (a username is at most 50 characters).
const maxSearch = 200

func (s *Server) upcoming(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	sortKey := r.URL.Query().Get("sort")
	if !upcomingSorts[sortKey] {
		sortKey = ""
	}
	if err := checkText("search", q, maxSearch); err != nil {
		s.render(w, r, http.StatusBadRequest, "upcoming", view{Title: "Upcoming retirements", Session: sess, Site: site,
			Error: strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "), Data: upcomingData{Sort: sortKey, Page: 1, Pages: 1}})
		return
	}
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	res, err := s.backend.Upcoming(r.Context(), site, s.now(), UpcomingQuery{Search: q, Sort: sortKey, Page: page, PageSize: pageSize})
	if err != nil {
		s.fail(w, r, sess, site, "The upcoming retirements", err)
		return
	}
	d := upcomingData{Rows: res.Rows, Query: q, Sort: sortKey, Total: res.Total, Page: res.Page, Pages: res.Pages}
	link := func(p int) string {
		v := url.Values{"page": {strconv.Itoa(p)}}
		if q != "" {
			v.Set("q", q)
		}
		if sortKey != "" {
			v.Set("sort", sortKey)
		}
		return "?" + v.Encode()
	}
	if d.Page > 1 {
		d.Prev = link(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.Next = link(d.Page + 1)
	}
	s.render(w, r, http.StatusOK, "upcoming", view{Title: "Upcoming retirements", Session: sess, Site: site, Data: d})
}

func (s *Server) warnings(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	rows, err := s.backend.History(r.Context(), site, HistoryFilter{Kind: "warned", Limit: 1000})
	if err != nil {
		s.fail(w, r, sess, site, "The warnings", err)
		return
	}
	s.render(w, r, http.StatusOK, "warnings", view{Title: "Warnings sent", Session: sess, Site: site, Data: rows})
}

func (s *Server) retired(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	rows, err := s.backend.Retired(r.Context(), site)
	if err != nil {
		s.fail(w, r, sess, site, "The retirements", err)
		return
	}
	s.render(w, r, http.StatusOK, "retired", view{Title: "Retirements", Session: sess, Site: site, Data: rows})
}

func (s *Server) reactivate(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	user, reason := r.PathValue("user"), strings.TrimSpace(r.PostFormValue("reason"))
	var err error
	if reason == "" {
		err = fmt.Errorf("%w: say why the account is reactivated", ErrInvalid)
	} else if err = checkText("reason", reason, maxReason); err == nil {
		err = s.backend.Reactivate(r.Context(), site, user, sess.Username, reason)
	}
	s.done(w, r, sess, site, sitePath(site, "retired"), "The account was reactivated and has a fresh grace period.", err)
}

func (s *Server) held(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	rows, err := s.backend.HeldBatches(r.Context(), site)
	if err != nil {
		s.fail(w, r, sess, site, "The held batches", err)
		return
	}
	s.render(w, r, http.StatusOK, "held", view{Title: "Held batches", Session: sess, Site: site, Data: rows})
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	err := s.backend.ApproveHeld(r.Context(), site, r.PathValue("batch"), sess.Username)
	s.done(w, r, sess, site, sitePath(site, "held"), "The batch was approved: its deactivations are on their way.", err)
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	err := s.backend.RejectHeld(r.Context(), site, r.PathValue("batch"), sess.Username)
	s.done(w, r, sess, site, sitePath(site, "held"), "The batch was rejected: nobody in it is retired.", err)
}

func (s *Server) exemptions(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	rows, err := s.backend.Exemptions(r.Context(), site, s.now())
	if err != nil {
		s.fail(w, r, sess, site, "The exemptions", err)
		return
	}
	s.render(w, r, http.StatusOK, "exemptions", view{Title: "Exemptions", Session: sess, Site: site,
		Data: exemptionsData{Rows: rows, User: r.URL.Query().Get("user")}})
}

type exemptionsData struct {
	Rows []ExemptionRow
	User string
}

func (s *Server) addExemption(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	user, reason, untilText := strings.TrimSpace(r.PostFormValue("user")), strings.TrimSpace(r.PostFormValue("reason")), strings.TrimSpace(r.PostFormValue("until"))
	var until *time.Time
	var err error
	switch {
	case user == "":
		err = fmt.Errorf("%w: name the user (username or uuid)", ErrInvalid)
	case reason == "":
		err = fmt.Errorf("%w: give the reason for the exemption", ErrInvalid)
	case checkText("user", user, maxUserRef) != nil:
		err = checkText("user", user, maxUserRef)
	case checkText("reason", reason, maxReason) != nil:
		err = checkText("reason", reason, maxReason)
	case untilText != "":
		t, perr := time.ParseInLocation("2006-01-02", untilText, time.UTC)
		if perr != nil {
			err = fmt.Errorf("%w: the end date %q is not a date (YYYY-MM-DD)", ErrInvalid, untilText)
		} else if !t.After(s.now()) {
			err = fmt.Errorf("%w: the end date %s is in the past", ErrInvalid, untilText)
		} else {
			until = &t
		}
	}
	if err == nil {
		err = s.backend.AddExemption(r.Context(), site, user, reason, until, sess.Username)
	}
	s.done(w, r, sess, site, sitePath(site, "exemptions"), "The exemption was added.", err)
}

func (s *Server) endExemption(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	err := s.backend.EndExemption(r.Context(), site, r.PathValue("user"), sess.Username)
	s.done(w, r, sess, site, sitePath(site, "exemptions"), "The exemption ended; the policy applies to the user again, warnings first.", err)
}

type historyData struct {
	Rows       []HistoryRow
	User, Kind string
	CSV        string
}

func (s *Server) historyFilter(r *http.Request) HistoryFilter {
	return HistoryFilter{UserUUID: strings.TrimSpace(r.URL.Query().Get("user")), Kind: strings.TrimSpace(r.URL.Query().Get("kind"))}
}

func (s *Server) history(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	f := s.historyFilter(r)
	f.Limit = 500
	rows, err := s.backend.History(r.Context(), site, f)
	if err != nil {
		s.fail(w, r, sess, site, "The history", err)
		return
	}
	v := url.Values{}
	if f.UserUUID != "" {
		v.Set("user", f.UserUUID)
	}
	if f.Kind != "" {
		v.Set("kind", f.Kind)
	}
	s.render(w, r, http.StatusOK, "history", view{Title: "History", Session: sess, Site: site,
		Data: historyData{Rows: rows, User: f.UserUUID, Kind: f.Kind, CSV: sitePath(site, "history.csv") + "?" + v.Encode()}})
}

// historyCSV exports the filtered history in full for auditors and spreadsheets.
func (s *Server) historyCSV(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	rows, err := s.backend.History(r.Context(), site, s.historyFilter(r))
	if err != nil {
		s.fail(w, r, sess, site, "The history", err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="dormant-%s-history.csv"`, site))
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"at", "kind", "user_uuid", "username", "reason", "by", "policy_version", "would_be", "batch_id", "event_id"})
	for _, h := range rows {
		_ = cw.Write([]string{h.At.UTC().Format(time.RFC3339), h.Kind, h.UserUUID, csvSafe(h.Username), csvSafe(h.Reason), csvSafe(h.By), h.PolicyVersion, strconv.FormatBool(h.WouldBe), h.BatchID, h.EventID})
	}
	cw.Flush()
}

// csvSafe defuses spreadsheet formulas: a cell starting with = + - @ would run when an
// auditor opens the file, and usernames come from outside.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

type policyData struct {
	Policy    PolicyView
	WhatIf    *WhatIf
	At        string
	Overrides map[string]string
	Keys      []string
}

// whatIfKeys are the values the policy page lets an admin try.
var whatIfKeys = []string{"inactive_after", "warn_before", "demo.max_age", "enabled", "dry_run"}

func (s *Server) policy(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	pv, err := s.backend.Policy(r.Context(), site)
	if err != nil {
		s.fail(w, r, sess, site, "The policy", err)
		return
	}
	d := policyData{Policy: pv, Overrides: map[string]string{}, Keys: whatIfKeys}
	q := r.URL.Query()
	errMsg := ""
	if q.Has("at") {
		at := s.now()
		d.At = strings.TrimSpace(q.Get("at"))
		if d.At != "" {
			t, perr := time.ParseInLocation("2006-01-02", d.At, time.UTC)
			if perr != nil {
				errMsg = fmt.Sprintf("%q is not a date (YYYY-MM-DD)", d.At)
			}
			at = t.Add(12 * time.Hour)
		}
		for _, k := range whatIfKeys {
			if v := strings.TrimSpace(q.Get(k)); v != "" {
				d.Overrides[k] = v
			}
		}
		if errMsg == "" {
			wi, err := s.backend.WhatIf(r.Context(), site, at, d.Overrides)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					s.fail(w, r, sess, site, "The what-if preview", err)
					return
				}
				errMsg = err.Error()
			} else {
				d.WhatIf = &wi
			}
		}
	}
	s.render(w, r, http.StatusOK, "policy", view{Title: "Policy", Session: sess, Site: site, Error: errMsg, Data: d})
}
