package service

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/requests"
)

// TestReactivationRequests: a request is stored and announced alike for a retired account and
// for a username nobody has; only the first can be approved, once; a rejection needs a reason.
func TestReactivationRequests(t *testing.T) {
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	t.Setenv("DORMANT_REQUESTS_TEST_OPENMRS_PASSWORD", "Admin123")
	gina := fake.AddUser(openmrstest.UserSpec{Username: "gina", Password: "Secret123", Created: auditT0, Retired: true})
	h := newHarness(t, engines[0].open(t), fmt.Sprintf(`
sites:
  - id: main
    openmrs_url: %s
    openmrs_user: admin
    openmrs_password_env: DORMANT_REQUESTS_TEST_OPENMRS_PASSWORD
`, fake.URL()))
	ctx := h.ctx
	waitUntil(t, "gina synced", func() bool { u, err := h.p.store.User(ctx, "main", gina); return err == nil && u.Retired })

	known, err := h.p.RequestReactivation(ctx, "main", "gina", "back from leave", "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := h.p.RequestReactivation(ctx, "main", "nobody", "", "2001:db8::7")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.p.RequestReactivation(ctx, "elsewhere", "gina", "", ""); err == nil {
		t.Error("a request for an unconfigured site was taken")
	}
	// Both announced, each with its own id, and valid against the schema (emitted checks it).
	got := map[string]string{}
	for _, ev := range h.emitted(h.ns.StreamDecisions()) {
		if d, ok := decodeAs[*events.ReactivationRequested](t, ev); ok {
			got[d.RequestID] = d.Username + " " + d.ClientIP
		}
	}
	if got[known.ID] != "gina 192.0.2.7" || got[unknown.ID] != "nobody 2001:db8::7" || len(got) != 2 {
		t.Fatalf("requested events = %v", got)
	}
	steps := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"a username the site does not have cannot be approved", func() error { return h.p.ApproveRequest(ctx, "main", unknown.ID, "bob") }, policy.ErrNotFound},
		{"approve gina's", func() error { return h.p.ApproveRequest(ctx, "main", known.ID, "bob") }, nil},
		{"not twice", func() error { return h.p.ApproveRequest(ctx, "main", known.ID, "bob") }, requests.ErrNotPending},
		{"a rejection needs a reason", func() error { return h.p.RejectRequest(ctx, "main", unknown.ID, "bob", " ") }, errAny},
		{"reject the unknown username's", func() error { return h.p.RejectRequest(ctx, "main", unknown.ID, "bob", "no such person") }, nil},
		{"an unknown request", func() error { return h.p.RejectRequest(ctx, "main", "r-none", "bob", "x") }, requests.ErrNotFound},
	}
	for _, s := range steps {
		err := s.do()
		if (s.wantErr == errAny && err == nil) || (s.wantErr != errAny && !errors.Is(err, s.wantErr)) {
			t.Errorf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
	}
	if u, _ := fake.User(gina); u.Retired {
		t.Error("gina is still retired after the approval")
	}
	rows, err := h.p.ReactivationRequests(ctx, "main")
	if err != nil || len(rows) != 2 {
		t.Fatalf("queue = %+v, %v", rows, err)
	}
	for _, r := range rows {
		switch r.ID {
		case known.ID:
			if r.Status != "approved" || r.DecidedBy != "bob" || !r.Known || r.UserUUID != gina || r.DecisionReason != "requested by the user: back from leave" {
				t.Errorf("gina's request = %+v", r)
			}
		case unknown.ID:
			if r.Status != "rejected" || r.Known || r.DecisionReason != "no such person" {
				t.Errorf("the unknown username's request = %+v", r)
			}
		}
	}
	var reactivated []*events.UserReactivated
	for _, ev := range h.emitted(h.ns.StreamActions()) {
		if d, ok := decodeAs[*events.UserReactivated](t, ev); ok {
			reactivated = append(reactivated, d)
		}
	}
	if len(reactivated) != 1 || reactivated[0].RequestID != known.ID || reactivated[0].By != "bob" || reactivated[0].UserUUID != gina {
		t.Errorf("reactivated events = %+v", reactivated)
	}
}

var errAny = errors.New("any error")
