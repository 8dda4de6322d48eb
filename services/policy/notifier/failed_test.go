package notifier

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/events"
)

// TestFailedDeactivationReachesTheAdmins: a retirement the actuator gave up on reaches the
// admins at once (email and on-screen alert, worded by whether a person must act) and in the
// digest, once per failure event even when the stream is read again.
func TestFailedDeactivationReachesTheAdmins(t *testing.T) {
	w := newWorld(t)
	clerk := w.user("clerk", "Tom", "Otieno", "tom@clinic-a.example.org")
	ghost := "0b5e1b2c-0000-4000-8000-00000000dead" // not in the projection: named by uuid
	n := w.start("notifier")
	now := time.Now().UTC()
	w.publish("f-1", now, &events.DeactivationFailed{DecisionID: "dec-1", UserUUID: clerk, Error: "openmrs: 403 Forbidden: Privileges required: Edit Users", Attempts: 1})
	w.publish("f-2", now, &events.DeactivationFailed{DecisionID: "dec-2", UserUUID: ghost, Error: "openmrs: 503 Service Unavailable", Attempts: 5, Retryable: true})
	msgs := w.mail.wait(t, 2)
	if !w.sent("f-1:alert") || !w.sent("f-2:alert") {
		t.Fatal("on-screen alerts were not sent")
	}
	bySubject := map[string]received{}
	for _, m := range msgs {
		bySubject[m.Subject] = m
	}
	for _, tc := range []struct {
		subject string
		want    []string
	}{
		{"dormant at clinic-a: the retirement of clerk failed", []string{"after 1 attempts", "still active", "403 Forbidden", "Edit Users privilege", "Decision: dec-1"}},
		{"dormant at clinic-a: the retirement of " + ghost + " failed", []string{"after 5 attempts", "503 Service Unavailable", "check that OpenMRS is up", "Decision: dec-2"}},
	} {
		m, ok := bySubject[tc.subject]
		if !ok || !slices.Equal(m.To, admins) {
			t.Errorf("no mail %q to the admins among %v", tc.subject, msgs)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(m.Text, want) {
				t.Errorf("%q: text lacks %q:\n%s", tc.subject, want, m.Text)
			}
		}
		if !strings.Contains(m.HTML, "The account is still active.") || !strings.Contains(m.HTML, tc.want[2]) {
			t.Errorf("%q: html lacks the error or that the account is active:\n%s", tc.subject, m.HTML)
		}
	}
	var texts []string
	for _, a := range w.fake.Alerts() {
		texts = append(texts, a.Text)
	}
	slices.Sort(texts)
	want := []string{
		"dormant could not retire the dormant account " + ghost + " (retryable): openmrs: 503 Service Unavailable",
		"dormant could not retire the dormant account clerk (not retryable: needs a person): openmrs: 403 Forbidden: Privileges required: Edit Users",
	}
	if !slices.Equal(texts, want) {
		t.Errorf("alerts %q, want %q", texts, want)
	}

	// Read again from the start (a replay, a new leader): nobody is told twice.
	w.settled(w.start("replay"))
	if got := len(w.mail.messages()); got != 2 {
		t.Fatalf("%d mails after the replay, want still 2", got)
	}
	if got := len(w.fake.Alerts()); got != 2 {
		t.Fatalf("%d alerts after the replay, want still 2", got)
	}

	n.digest = 7 * time.Hour
	day := now.Truncate(24 * time.Hour)
	if err := n.SendDigests(w.ctx, day.Add(7*time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	d := w.mail.wait(t, 3)[2]
	if d.Subject != "dormant at clinic-a: 2 FAILED, 0 upcoming, 0 retired, 0 held ("+day.Format(time.DateOnly)+")" {
		t.Errorf("digest subject %q", d.Subject)
	}
	for _, want := range []string{"Failed retirements", "clerk on " + day.Format(time.DateOnly) + ": openmrs: 403 Forbidden: Privileges required: Edit Users after 1 attempts (not retryable: needs a person)",
		ghost + " on " + day.Format(time.DateOnly) + ": openmrs: 503 Service Unavailable after 5 attempts (retryable)"} {
		if !strings.Contains(d.Text, want) {
			t.Errorf("digest text lacks %q:\n%s", want, d.Text)
		}
	}
	if !strings.Contains(d.HTML, "<b>clerk</b> on "+day.Format(time.DateOnly)) {
		t.Errorf("digest html lacks the failure:\n%s", d.HTML)
	}
}
