package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/dormant-dev/dormant/services/policy/handover"
)

// HandoverBackend is implemented by a Backend that can say what a user still holds in
// OpenMRS (orders, appointments, roles nobody else holds), so that work is handed over before
// the account goes. The user page is served only when the backend implements it.
type HandoverBackend interface {
	// UserHandover returns the pending retirement of a user with what the user holds, or an
	// error wrapping ErrInvalid for a user the site does not know.
	UserHandover(ctx context.Context, site, userUUID string, now time.Time) (UserHandover, error)
}

// UserHandover is one user's page: the retirement pending (nil when none) and the facts.
type UserHandover struct {
	UserUUID, Username, Name string
	Upcoming                 *Upcoming
	Facts                    handover.Facts
}

// userHandover serves GET /sites/{site}/users/{user}: what the user holds in OpenMRS.
func (s *Server) userHandover(w http.ResponseWriter, r *http.Request, sess Session, site string) {
	hb, ok := s.backend.(HandoverBackend)
	if !ok {
		http.NotFound(w, r)
		return
	}
	u, err := hb.UserHandover(r.Context(), site, r.PathValue("user"), s.now())
	if errors.Is(err, ErrInvalid) {
		s.render(w, r, http.StatusNotFound, "error", view{Title: "Unknown user", Session: sess, Site: site, Error: "dormant does not know this user at this site."})
		return
	}
	if err != nil {
		s.fail(w, r, sess, site, "What the user holds in OpenMRS", err)
		return
	}
	s.render(w, r, http.StatusOK, "user", view{Title: "Handover: " + u.Username, Session: sess, Site: site, Data: u})
}
