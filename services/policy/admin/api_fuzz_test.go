package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// FuzzAPIBody: no request body makes the JSON API's change handler panic; it answers 200
// (the change ran with the decoded body), 400 (the body is refused) or 422 (a rule refused it).
func FuzzAPIBody(f *testing.F) {
	f.Add([]byte(`{"user":"alice","reason":"transfer to clinic B","until":"2999-01-01T00:00:00Z"}`))
	s := &Server{log: zap.NewNop(), now: time.Now}
	f.Fuzz(func(t *testing.T, body []byte) {
		ran := false
		h := s.apiChange(func(_ *http.Request, _, _ string, b apiBody) error {
			ran = true
			return checkText("reason", b.Reason, maxReason)
		})
		r := httptest.NewRequest(http.MethodPost, "/api/v1/sites/clinic-a/exemptions", strings.NewReader(string(body)))
		w := httptest.NewRecorder()
		h(w, r, Session{Username: "manager", Site: "clinic-a"}, "clinic-a")
		switch w.Code {
		case http.StatusOK, http.StatusUnprocessableEntity:
			if !ran {
				t.Fatalf("%d without running the change", w.Code)
			}
		case http.StatusBadRequest:
			if ran {
				t.Fatal("a refused body ran the change")
			}
		default:
			t.Fatalf("answered %d", w.Code)
		}
	})
}
