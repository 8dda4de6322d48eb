package admin

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/policy/audit"
)

func (s *Server) auditRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /sites/{site}/audit", s.admin(s.auditForm))
	mux.HandleFunc("GET /sites/{site}/audit/report", s.admin(s.auditReport))
	mux.HandleFunc("GET /sites/{site}/audit.csv", s.admin(s.auditCSV))
}

type auditFormData struct {
	From, To string
}

// auditForm lets the admin pick the period; the last 90 days by default.
func (s *Server) auditForm(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	today := s.now().UTC().Truncate(24 * time.Hour)
	d := auditFormData{From: today.AddDate(0, 0, -90).Format(time.DateOnly), To: today.Format(time.DateOnly)}
	s.render(w, r, http.StatusOK, "audit", view{Title: "Audit evidence", Session: sess, Site: site, Data: d})
}

// auditPeriod reads from and to (YYYY-MM-DD, both days included) into [from, to).
func auditPeriod(r *http.Request) (time.Time, time.Time, error) {
	q := r.URL.Query()
	from, err := time.Parse(time.DateOnly, strings.TrimSpace(q.Get("from")))
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: the first day %q is not a date (YYYY-MM-DD)", ErrInvalid, q.Get("from"))
	}
	to, err := time.Parse(time.DateOnly, strings.TrimSpace(q.Get("to")))
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: the last day %q is not a date (YYYY-MM-DD)", ErrInvalid, q.Get("to"))
	}
	if to.Before(from) {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: the period ends before it starts", ErrInvalid)
	}
	return from, to.AddDate(0, 0, 1), nil
}

func (s *Server) loadAudit(w http.ResponseWriter, r *http.Request, sess Session, site string) (audit.Report, bool) {
	from, to, err := auditPeriod(r)
	if err == nil {
		var rep audit.Report
		if rep, err = s.backend.Audit(r.Context(), site, from, to); err == nil {
			return rep, true
		}
	}
	if strings.HasPrefix(err.Error(), ErrInvalid.Error()) {
		s.render(w, r, http.StatusBadRequest, "audit", view{Title: "Audit evidence", Session: sess, Site: site, Error: strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "),
			Data: auditFormData{From: r.URL.Query().Get("from"), To: r.URL.Query().Get("to")}})
		return audit.Report{}, false
	}
	s.fail(w, r, sess, site, "The audit report", err)
	return audit.Report{}, false
}

// auditReport serves the printable report as a page of its own: its styles are inline so
// the saved file stands alone, and it runs no script.
func (s *Server) auditReport(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	rep, ok := s.loadAudit(w, r, sess, site)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	if err := audit.WriteHTML(w, rep); err != nil {
		s.log.Error("write the audit report", zap.Error(err))
	}
}

func (s *Server) auditCSV(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	rep, ok := s.loadAudit(w, r, sess, site)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="dormant-%s-audit-%s-%s.csv"`, site, rep.From.Format(time.DateOnly), rep.To.AddDate(0, 0, -1).Format(time.DateOnly)))
	if err := audit.WriteCSV(w, rep); err != nil {
		s.log.Error("write the audit csv", zap.Error(err))
	}
}
