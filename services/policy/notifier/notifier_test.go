package notifier

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/platform/infra/infratest"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/sqlite"
)

const site = "clinic-a"

var admins = []string{"ops@clinic-a.example.org", "head@clinic-a.example.org"}

type world struct {
	t     *testing.T
	ctx   context.Context
	js    jetstream.JetStream
	ns    events.Namespace
	mail  *mailServer
	fake  *openmrstest.Server
	proj  *sqlite.Store
	store *Store
	site  Site
	opts  Options
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	js, root := infratest.Bus(t)
	db, err := sqldb.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	proj, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ms := startMailServer(t)
	mailer, err := NewSMTPMailer(siteconfig.SMTP{Host: "127.0.0.1", Port: ms.addr.Port, Username: ms.user, From: "dormant <dormant@clinic-a.example.org>"}, ms.password, ms.clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	fake.AddRole("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivManageAlerts)
	fake.AddUser(openmrstest.UserSpec{Username: "dormant", Password: "Dormant123", Roles: []string{"Dormant"}})
	client, err := openmrs.New(openmrs.Config{BaseURL: fake.URL(), Username: "dormant", Password: "Dormant123"})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ctx: ctx, js: js, ns: events.Namespace{Root: root}, mail: ms, fake: fake, proj: proj, store: store,
		site: Site{ID: site, Mailer: mailer, AdminEmails: admins, Alerts: client, Admins: OpenMRSAdmins(nil, client, time.Hour), Templates: tpl},
		opts: Options{ConsumerPrefix: "notifier", DigestAt: "off", MaxAttempts: 5, RetryBackoff: 50 * time.Millisecond}}
}

func (w *world) start(prefix string) *Notifier {
	w.t.Helper()
	opts := w.opts
	opts.ConsumerPrefix = prefix
	n, err := New(w.ctx, Deps{Log: zap.NewNop(), JS: w.js, NS: w.ns, Store: w.store, Directory: w.proj, Sites: []Site{w.site}}, opts)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	w.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			w.t.Error(err)
		}
	})
	return n
}

// settled waits until each of n's consumers has settled every message of its stream: none
// pending delivery and none awaiting an ack. A test that checks that nothing (more) was sent
// waits on this rather than a sleep, which a loaded machine can outlast and so pass falsely.
func (w *world) settled(n *Notifier) {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, c := range n.cons {
		for {
			info, err := c.Info(w.ctx)
			if err != nil {
				w.t.Fatal(err)
			}
			if info.NumPending == 0 && info.NumAckPending == 0 {
				break
			}
			if time.Now().After(deadline) {
				w.t.Fatalf("consumer %s: %d pending, %d awaiting an ack after 20s", info.Name, info.NumPending, info.NumAckPending)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (w *world) user(username, given, family, email string) string {
	w.t.Helper()
	id := w.fake.AddUser(openmrstest.UserSpec{Username: username, GivenName: given, FamilyName: family, Email: email})
	if err := w.proj.SyncUser(w.ctx, policy.User{Site: site, UUID: id, Username: username, GivenName: given, FamilyName: family, Email: email, CreatedAt: time.Now().UTC()}); err != nil {
		w.t.Fatal(err)
	}
	return id
}

func (w *world) publish(id string, at time.Time, d events.Data) {
	w.t.Helper()
	ev, err := events.New(events.SourceFor("policy", site), site, d, id, at)
	if err != nil {
		w.t.Fatal(err)
	}
	msg, err := events.ToNATS(w.ns.SubjectFor(site, d), ev)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.js.PublishMsg(w.ctx, msg); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) sent(key string) bool {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ok, err := w.store.Sent(w.ctx, key)
		if err != nil {
			w.t.Fatal(err)
		}
		if ok {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func TestWarningEmailReachesTheUserOnce(t *testing.T) {
	w := newWorld(t)
	id := w.user("nurse1", "Grace", "Achieng", "grace@clinic-a.example.org")
	last := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	on := time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	w.mail.reject = 1 // the first delivery is refused for now: the notifier must retry
	w.start("notifier")
	w.publish("warn-1", time.Now().UTC(), &events.UserWarned{UserUUID: id, Username: "nurse1", Rule: "inactive_after", LastLoginAt: &last, DeactivateOn: on, DaysLeft: 7, PolicyVersion: "v1"})

	got := w.mail.wait(t, 1)[0]
	if !slices.Equal(got.To, []string{"grace@clinic-a.example.org"}) || got.From != "dormant@clinic-a.example.org" {
		t.Fatalf("envelope from %q to %v", got.From, got.To)
	}
	if !got.TLS || got.User != "dormant" {
		t.Fatalf("sent with TLS=%v as %q, want STARTTLS and authenticated", got.TLS, got.User)
	}
	if got.Subject != "Your OpenMRS account nurse1 will be deactivated in 7 days" {
		t.Fatalf("subject %q", got.Subject)
	}
	for _, want := range []string{"Hello Grace Achieng,", `"nurse1"`, "since 1 February 2026", "Saturday 2 May 2026", "simply log in"} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("text body lacks %q:\n%s", want, got.Text)
		}
	}
	if !strings.Contains(got.HTML, "<b>nurse1</b>") || !strings.Contains(got.HTML, "Saturday 2 May 2026") {
		t.Errorf("html body:\n%s", got.HTML)
	}

	// A second notifier reading the same stream from the start (a replay, a new replica)
	// finds the sent log and mails nobody again.
	if !w.sent("warn-1:email") {
		t.Fatal("the warning is not in the sent log")
	}
	w.settled(w.start("replay"))
	if n := len(w.mail.messages()); n != 1 {
		for _, m := range w.mail.messages() {
			t.Logf("%s %v %s", m.Header.Get("Message-Id"), m.To, m.Subject)
		}
		t.Fatalf("%d messages after the replay, want still 1", n)
	}
}

// A site in dry run emits its would-be warnings: the admins' digest lists them as such and
// the user is mailed nothing, since nothing will be retired.
func TestDryRunWarningReachesTheDigestNotTheUser(t *testing.T) {
	w := newWorld(t)
	dry := w.user("locum", "Amina", "Juma", "amina@clinic-a.example.org")
	real := w.user("nurse2", "Ruth", "Mwangi", "ruth@clinic-a.example.org")
	w.start("notifier")
	on := time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	w.publish("warn-dry", time.Now().UTC(), &events.UserWarned{UserUUID: dry, Username: "locum", Rule: "inactive_after", DeactivateOn: on, DaysLeft: 14, PolicyVersion: "v1", DryRun: true})
	w.publish("warn-real", time.Now().UTC(), &events.UserWarned{UserUUID: real, Username: "nurse2", Rule: "inactive_after", DeactivateOn: on, DaysLeft: 14, PolicyVersion: "v1"})

	if got := w.mail.wait(t, 1); !slices.Equal(got[0].To, []string{"ruth@clinic-a.example.org"}) {
		t.Fatalf("mail to %v, want the real warning's user", got[0].To)
	}
	var items []Item
	for deadline := time.Now().Add(10 * time.Second); len(items) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if items, err = w.store.Pending(w.ctx, site); err != nil {
			t.Fatal(err)
		}
	}
	details := map[string]string{}
	for _, it := range items {
		details[it.Username] = it.Detail
	}
	if want := "dry run: inactive_after, would be warned 14 days before"; details["locum"] != want {
		t.Errorf("digest item of the dry-run warning = %q, want %q", details["locum"], want)
	}
	if want := "inactive_after, warned 14 days before"; details["nurse2"] != want {
		t.Errorf("digest item of the real warning = %q, want %q", details["nurse2"], want)
	}
	if sent, err := w.store.Sent(w.ctx, "warn-dry:email"); err != nil || sent {
		t.Errorf("the dry-run warning in the sent log as mailed: %v, %v", sent, err)
	}
	if n := len(w.mail.messages()); n != 1 {
		t.Fatalf("%d messages, want only the real warning's", n)
	}
}

func TestDeactivationAndHeldBatchReachUserAndAdmins(t *testing.T) {
	w := newWorld(t)
	id := w.user("clerk", "Tom", "Otieno", "tom@clinic-a.example.org")
	w.start("notifier")
	w.publish(events.DerivedID("deactivated", "d1"), time.Now().UTC(), &events.UserDeactivated{DecisionID: "d1", UserUUID: id, Username: "clerk", Reason: "dormant: no login for 90 days", RetiredAt: time.Date(2026, 5, 2, 7, 0, 0, 0, time.UTC)})
	w.publish("held-1", time.Now().UTC(), &events.PolicyHeld{BatchID: "b-42", Count: 120, Limit: 50, Reason: "batch larger than max_deactivations_per_tick", Sample: []string{id}})
	msgs := w.mail.wait(t, 2)
	if !w.sent("held-1:alert") || !w.sent(events.DerivedID("deactivated", "d1")+":alert") {
		t.Fatal("on-screen alerts were not sent")
	}
	bySubject := map[string]received{}
	for _, m := range msgs {
		bySubject[m.Subject] = m
	}
	user, ok := bySubject["Your OpenMRS account clerk has been deactivated"]
	if !ok || !slices.Equal(user.To, []string{"tom@clinic-a.example.org"}) || !strings.Contains(user.Text, "Reason: dormant: no login for 90 days") {
		t.Fatalf("deactivation mail: %+v", user)
	}
	held, ok := bySubject["dormant at clinic-a: 120 deactivations held for your approval"]
	if !ok || !slices.Equal(held.To, admins) || !strings.Contains(held.Text, "Batch: b-42") {
		t.Fatalf("held mail: %+v", held)
	}
	alerts := w.fake.Alerts()
	if len(alerts) != 2 {
		t.Fatalf("%d OpenMRS alerts, want 2", len(alerts))
	}
	for _, a := range alerts {
		// The only System Developer on the fake is its admin.
		if !slices.Equal(a.Recipients, []string{w.fake.UserUUID("admin")}) {
			t.Fatalf("alert to %v", a.Recipients)
		}
	}
}

func TestDailyDigest(t *testing.T) {
	w := newWorld(t)
	a := w.user("alice", "Alice", "W", "")
	b := w.user("bob", "Bob", "K", "")
	c := w.user("carol", "Carol", "M", "")
	n := w.start("notifier")
	now := time.Now().UTC()
	w.publish("w-b", now, &events.UserWarned{UserUUID: b, Username: "bob", Rule: "inactive_after", DeactivateOn: time.Date(2026, 6, 20, 0, 0, 0, 0, time.UTC), DaysLeft: 14, PolicyVersion: "v1"})
	w.publish("w-a", now, &events.UserWarned{UserUUID: a, Username: "alice", Rule: "demo_max_age", DeactivateOn: time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC), DaysLeft: 1, PolicyVersion: "v1"})
	w.publish("d-c", now, &events.UserDeactivated{DecisionID: "dc", UserUUID: c, Username: "carol", Reason: "dormant: no login for 90 days", RetiredAt: time.Date(2026, 6, 1, 7, 0, 0, 0, time.UTC)})
	w.publish("h-1", now, &events.PolicyHeld{BatchID: "b-7", Count: 60, Limit: 50, Reason: "clock jumped"})
	if !w.sent("h-1:admins") || !w.sent("d-c:alert") {
		t.Fatal("events were not processed")
	}
	for {
		items, err := w.store.Pending(w.ctx, site)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 4 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := len(w.mail.messages()) // the held batch's own mail

	n.digest = 7 * time.Hour // as DORMANT_NOTIFY_DIGEST_AT=07:00, without the wall-clock loop
	day := time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC)
	if err := n.SendDigests(w.ctx, day.Add(6*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := len(w.mail.messages()); got != before {
		t.Fatal("a digest went out before its time of day")
	}
	if err := n.SendDigests(w.ctx, day.Add(7*time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := n.SendDigests(w.ctx, day.Add(9*time.Hour)); err != nil { // the same day again
		t.Fatal(err)
	}
	msgs := w.mail.wait(t, before+1)
	if len(msgs) != before+1 {
		t.Fatalf("%d digests, want 1", len(msgs)-before)
	}
	d := msgs[before]
	if !slices.Equal(d.To, admins) || d.Subject != "dormant at clinic-a: 2 upcoming, 1 retired, 1 held (2026-06-03)" {
		t.Fatalf("digest to %v subject %q", d.To, d.Subject)
	}
	// Upcoming sorted by deactivation day: alice (10 June) before bob (20 June).
	ia, ib := strings.Index(d.Text, "alice on 2026-06-10"), strings.Index(d.Text, "bob on 2026-06-20")
	if ia < 0 || ib < 0 || ia > ib {
		t.Errorf("upcoming retirements missing or out of order:\n%s", d.Text)
	}
	for _, want := range []string{"carol on 2026-06-01: dormant: no login for 90 days", "batch b-7: 60 deactivations held (limit 50): clock jumped"} {
		if !strings.Contains(d.Text, want) {
			t.Errorf("digest text lacks %q:\n%s", want, d.Text)
		}
	}
	for _, want := range []string{"<b>alice</b> on 2026-06-10", "<b>carol</b> on 2026-06-01", "batch b-7: 60 deactivations held"} {
		if !strings.Contains(d.HTML, want) {
			t.Errorf("digest html lacks %q:\n%s", want, d.HTML)
		}
	}
	// The next day has nothing new to report: no digest.
	if err := n.SendDigests(w.ctx, day.Add(31*time.Hour)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := len(w.mail.messages()); got != before+1 {
		t.Fatalf("%d messages, want no second digest without news", got)
	}
}

func TestTemplates(t *testing.T) {
	data := WarningData{Site: "s", Username: "u", Name: "U", DaysLeft: 1, DeactivateOn: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}
	tests := []struct {
		name     string
		files    map[string]string
		subject  string
		wantErr  string
		htmlPart string
	}{
		{"the embedded templates", nil, "Your OpenMRS account u will be deactivated in 1 day", "", "<b>u</b>"},
		{"a site's override replaces only its file", map[string]string{"warning.txt.tmpl": `{{define "subject"}}Compte {{.Username}}:
 {{.DaysLeft}} jour{{end}}{{define "text"}}Bonjour{{end}}`}, "Compte u: 1 jour", "", "<b>u</b>"},
		{"html is escaped", map[string]string{"warning.html.tmpl": `<p>{{.Name}}</p>`}, "", "", "<p>&lt;x&gt;</p>"},
		{"an override without a subject is refused", map[string]string{"held.txt.tmpl": `{{define "text"}}x{{end}}`}, "", `must define "subject"`, ""},
		{"a broken override is refused at start-up", map[string]string{"digest.html.tmpl": `{{range}}`}, "", "digest.html.tmpl", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			tpl, err := LoadTemplates(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := data
			if tc.htmlPart == "<p>&lt;x&gt;</p>" {
				d.Name = "<x>"
			}
			subject, _, html, err := tpl.Render(KindWarning, d)
			if err != nil {
				t.Fatal(err)
			}
			if tc.subject != "" && subject != tc.subject {
				t.Errorf("subject %q, want %q", subject, tc.subject)
			}
			if !strings.Contains(html, tc.htmlPart) {
				t.Errorf("html %q lacks %q", html, tc.htmlPart)
			}
		})
	}
}
