package notifier

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/events"
)

// TestReactivationRequestMailsTheAdmins: a request for an account of the site reaches the
// admins once; one for a username the site does not have mails nobody.
func TestReactivationRequestMailsTheAdmins(t *testing.T) {
	w := newWorld(t)
	w.user("clerk", "Tom", "Otieno", "tom@clinic-a.example.org")
	n := w.start("notifier")
	at := time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC)
	w.publish("req-ghost", at, &events.ReactivationRequested{RequestID: "req-ghost", Username: "ghost", Note: "let me in", RequestedAt: at, ClientIP: "192.0.2.9"})
	req := &events.ReactivationRequested{RequestID: "req-1", Username: "clerk", Note: "back from study leave", RequestedAt: at, ClientIP: "192.0.2.7"}
	w.publish("req-1", at, req)
	w.publish("req-1", at, req) // a duplicate mails nobody twice
	msgs := w.mail.wait(t, 1)
	m := msgs[0]
	if m.Subject != "dormant at clinic-a: clerk asks for the account back" || !slices.Equal(m.To, admins) ||
		!strings.Contains(m.Text, "Tom Otieno (clerk)") || !strings.Contains(m.Text, "Their note: back from study leave") ||
		!strings.Contains(m.Text, "from 192.0.2.7") || !strings.Contains(m.HTML, "<b>Tom Otieno</b>") {
		t.Fatalf("request mail: %+v", m)
	}
	if !w.sent("req-1:admins") {
		t.Fatal("the sent log has no entry for the request")
	}
	w.settled(n) // the ghost's request and the duplicate too
	if n := len(w.mail.messages()); n != 1 {
		t.Fatalf("%d mails, want only the one for clerk", n)
	}
	if ok, _ := w.store.Sent(w.ctx, "req-ghost:admins"); ok {
		t.Fatal("the request for an unknown username was mailed")
	}
}
