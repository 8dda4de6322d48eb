package service

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/audit"
)

// auditT0 is the first tick of the audit story, long before the fake's own admin was created.
var auditT0 = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)

func auditDay(d int) time.Time { return auditT0.Add(time.Duration(d) * day) }

// TestAuditReportOf120Days drives the real service, its actuator and a fake OpenMRS through
// 120 simulated days, one tick a day, and checks the audit report of the period line by line
// against what the test did and the events the service emitted.
func TestAuditReportOf120Days(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) { auditStory(t, eng.open(t)) })
	}
}

// expected is what the test knows of one account it drove past the threshold.
type expected struct {
	status     string
	lastActive time.Time // what the cycle is measured from (creation for the demo rule)
	rule       string
	period     time.Duration
	exemption  string // ExemptionText of its one exemption
	held       bool
	approvedBy string
	rejected   string // "by: reason"
	detail     string // a part of the status detail
}

func auditStory(t *testing.T, db *sqldb.DB) {
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	t.Setenv("DORMANT_AUDIT_TEST_OPENMRS_PASSWORD", "Admin123")
	created := auditT0.Add(-400 * day)
	lastActive := auditT0.Add(-time.Hour)
	names := []string{"ana", "ben", "cleo", "dan", "eli", "fay", "gus", "hal", "ivy", "dev", "finn", "eve", "daemon"}
	uuids := map[string]string{}
	for _, n := range names {
		spec := openmrstest.UserSpec{Username: n, Password: "Secret123", GivenName: n, FamilyName: "Nurse", Created: created}
		if n == "dev" {
			spec.Roles = []string{"System Developer"}
		}
		uuids[n] = fake.AddUser(spec)
	}
	// Set in OpenMRS, as an admin would: the rejected trio of day 100 comes round again only
	// after day 160, so at the report's day 120 they still stand rejected (and the rejection
	// names the day from this setting, not the 30-day default).
	fake.SetSystemSetting("dormant.rejectionCooloffDays", "60")
	h := newHarness(t, db, fmt.Sprintf(`
sites:
  - id: main
    openmrs_url: %s
    openmrs_user: admin
    openmrs_password_env: DORMANT_AUDIT_TEST_OPENMRS_PASSWORD
    policy: {enabled: true, dry_run: false, inactive_after: 90d, warn_before: [14d, 7d, 1d], feed_silence_window: 0, max_deactivations_percent: 0, max_deactivations_per_tick: 2}
`, fake.URL()))
	ctx := h.ctx
	// The actuator and the reactivator stamp their records with simulated time too.
	var sim atomic.Int64
	setNow := func(at time.Time) { h.now = at; sim.Store(at.UnixNano()) }
	h.stop()
	h.p.clock = func() time.Time { return time.Unix(0, sim.Load()) }
	h.start()
	waitUntil(t, "the roster synced", func() bool {
		for _, n := range names {
			if u, err := h.p.store.User(ctx, "main", uuids[n]); err != nil || u.CreatedAt.IsZero() {
				return false
			}
		}
		return true
	})
	logins := map[string]time.Time{}
	login := func(name string, at time.Time) {
		h.login("main", uuids[name], name, at)
		logins[name] = at
	}
	for _, n := range []string{"ana", "ben", "cleo", "dev", "finn"} {
		login(n, lastActive) // due on day 89 at 23:00
	}
	for _, n := range []string{"dan", "eli", "fay"} {
		login(n, auditDay(5).Add(-time.Hour)) // due together on day 94: more than the limit of 2
	}
	for _, n := range []string{"gus", "hal", "ivy"} {
		login(n, auditDay(10).Add(-time.Hour)) // due together on day 99
	}
	login("eve", auditDay(60)) // due after the period
	h.settle()

	var demoCreated time.Time
	var heldDay95, heldDay100 string
	var exemptUntil time.Time
	heldOn := func(tick time.Time) string {
		t.Helper()
		bs, err := h.p.HeldBatches(ctx, "main", policy.HeldPending)
		if err != nil || len(bs) != 1 || !bs[0].Tick.Equal(tick) {
			t.Fatalf("pending held batches = %+v, %v; want one from %s", bs, err, tick)
		}
		return bs[0].BatchID
	}
	before := map[int]func(){
		// A demo account appears on day 20; the demo rule retires it two days after creation.
		20: func() {
			demoCreated = auditDay(20).Add(-time.Hour)
			uuids["test-demo"] = fake.AddUser(openmrstest.UserSpec{Username: "test-demo", Password: "Secret123", Created: demoCreated})
			h.sync("main", events.UserSynced{UserUUID: uuids["test-demo"], Username: "test-demo", CreatedAt: demoCreated})
		},
		// cleo goes on leave on day 80, exempted until day 110 by alice.
		80: func() {
			exemptUntil = auditDay(110)
			setNow(auditDay(79).Add(15 * time.Hour))
			if err := h.p.AddExemption(ctx, "main", uuids["cleo"], "maternity leave", "alice", &exemptUntil); err != nil {
				t.Fatal(err)
			}
		},
		// ben logs in the evening before day 85: his warnings stop before his threshold.
		85: func() { login("ben", auditDay(84).Add(18*time.Hour)) },
	}
	after := map[int]func(){
		95: func() {
			heldDay95 = heldOn(auditDay(95))
			h.login("main", uuids["eli"], "eli", auditDay(95).Add(time.Hour)) // past his threshold, but before the approval
			h.settle()
			setNow(auditDay(95).Add(2 * time.Hour))
			if _, err := h.p.ApproveHeld(ctx, "main", heldDay95, "bob"); err != nil {
				t.Fatal(err)
			}
		},
		100: func() {
			heldDay100 = heldOn(auditDay(100))
			setNow(auditDay(100).Add(3 * time.Hour))
			if err := h.p.RejectHeld(ctx, "main", heldDay100, "bob", "locums, back next month"); err != nil {
				t.Fatal(err)
			}
			if err := h.p.Reactivate(ctx, "main", uuids["finn"], "bob", "back from study leave"); err != nil {
				t.Fatal(err)
			}
			// A new policy version from day 101: OpenMRS now allows three retirements a tick.
			fake.SetSystemSetting("dormant.maxDeactivationsPerTick", "3")
		},
	}
	for d := 0; d < 120; d++ {
		if f := before[d]; f != nil {
			f()
			h.settle()
		}
		setNow(auditDay(d))
		h.tick(auditDay(d))
		waitActuator(t, h, "main")
		if f := after[d]; f != nil {
			f()
			waitActuator(t, h, "main")
		}
	}

	setNow(auditDay(120))
	rep, err := h.p.Audit(ctx, "main", auditT0, auditDay(120))
	if err != nil {
		t.Fatal(err)
	}
	ex := func(reason, by string, from, until time.Time) string {
		return audit.ExemptionText(audit.Exemption{Reason: reason, By: by, From: from, Until: &until})
	}
	inactive := func(status string, name string) expected {
		return expected{status: status, lastActive: logins[name], rule: policy.RuleInactiveAfter, period: 90 * day}
	}
	want := map[string]expected{
		"ana":       inactive(audit.StatusRetired, "ana"),
		"finn":      inactive(audit.StatusReactivated, "finn"),
		"cleo":      inactive(audit.StatusPending, "cleo"),
		"dev":       inactive(audit.StatusProtected, "dev"),
		"daemon":    {status: audit.StatusProtected, lastActive: auditT0, rule: policy.RuleInactiveAfter, period: 90 * day},
		"dan":       inactive(audit.StatusRetired, "dan"),
		"eli":       inactive(audit.StatusKept, "eli"),
		"fay":       inactive(audit.StatusRetired, "fay"),
		"gus":       inactive(audit.StatusRejected, "gus"),
		"hal":       inactive(audit.StatusRejected, "hal"),
		"ivy":       inactive(audit.StatusRejected, "ivy"),
		"test-demo": {status: audit.StatusRetired, rule: policy.RuleDemoMaxAge, period: 2 * day},
	}
	for _, n := range []string{"dan", "eli", "fay", "gus", "hal", "ivy"} {
		e := want[n]
		e.held = true
		want[n] = e
	}
	for _, n := range []string{"dan", "fay"} {
		e := want[n]
		e.approvedBy = "bob"
		want[n] = e
	}
	for _, n := range []string{"gus", "hal", "ivy"} {
		e := want[n]
		e.rejected = "bob: locums, back next month"
		e.detail = "locums, back next month"
		want[n] = e
	}
	e := want["cleo"]
	e.exemption = ex("maternity leave", "alice", auditDay(79).Add(15*time.Hour), exemptUntil)
	want["cleo"] = e
	e = want["test-demo"]
	e.lastActive = demoCreated
	want["test-demo"] = e
	e = want["dev"]
	e.detail = "holds exempt role System Developer"
	want["dev"] = e
	e = want["finn"]
	e.detail = "by bob: back from study leave"
	want["finn"] = e

	// What the service emitted: each warning and each retirement, by user.
	warnings := map[string][]audit.Warning{}
	for _, ev := range h.emitted(h.ns.StreamDecisions()) {
		if w, ok := decodeAs[*events.UserWarned](t, ev); ok {
			warnings[w.UserUUID] = append(warnings[w.UserUUID], audit.Warning{At: ev.Time().UTC(), DaysLeft: w.DaysLeft})
		}
	}
	retired := map[string]time.Time{}
	for _, ev := range h.emitted(h.ns.StreamActions()) {
		if d, ok := decodeAs[*events.UserDeactivated](t, ev); ok {
			retired[d.UserUUID] = d.RetiredAt.UTC()
		}
	}
	if len(retired) != 5 {
		t.Fatalf("retirements emitted: %v; want ana, finn, dan, fay and test-demo", retired)
	}

	var got []string
	for _, c := range rep.Cases {
		got = append(got, c.Username)
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(got)
	slices.Sort(wantNames)
	if !slices.Equal(got, wantNames) {
		t.Fatalf("accounts in the report = %v\nwant %v", got, wantNames)
	}
	byName := map[string]audit.Case{}
	for _, c := range rep.Cases {
		byName[c.Username] = c
		w := want[c.Username]
		uuid := uuids[c.Username]
		threshold := w.lastActive.Truncate(day).Add(w.period)
		check := func(what string, got, want any) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %s = %v, want %v", c.Username, what, got, want)
			}
		}
		check("uuid", c.UserUUID, uuid)
		check("status", c.Status, w.status)
		check("rule", c.Rule, w.rule)
		check("threshold", c.Threshold, threshold)
		// Every warning the service emitted in this cycle, no more and no less.
		var wantWarnings []audit.Warning
		for _, x := range warnings[uuid] {
			if c.Username != "ben" && (c.Username != "eli" || x.At.Before(auditDay(96))) {
				wantWarnings = append(wantWarnings, x)
			}
		}
		check("warnings", c.Warnings, wantWarnings)
		if r, ok := retired[uuid]; ok {
			check("retired", c.Retired, r)
			check("days from threshold to retirement", c.DaysToRetirement, int(r.Truncate(day).Sub(threshold)/day))
			check("days overdue", c.DaysOverdue, 0)
		} else {
			check("retired", c.Retired, time.Time{})
			if w.status != audit.StatusKept {
				check("days overdue", c.DaysOverdue, int(auditDay(120).Sub(threshold)/day))
			}
		}
		var exemptions []string
		for _, x := range c.Exemptions {
			exemptions = append(exemptions, audit.ExemptionText(x))
		}
		check("exemptions", strings.Join(exemptions, "; "), w.exemption)
		row := audit.CSVRow("main", c)
		col := func(name string) string { return row[slices.Index(audit.CSVHeader, name)] }
		check("held (csv)", col("held") != "", w.held)
		check("approved (csv)", col("approved"), map[bool]string{true: auditDay(95).Add(2*time.Hour).Format(time.RFC3339) + " by bob"}[w.approvedBy != ""])
		check("rejected (csv)", col("rejected"), map[bool]string{true: auditDay(100).Add(3*time.Hour).Format(time.RFC3339) + " by " + w.rejected +
			"; due again: warned afresh and proposed no sooner than " + auditDay(160).Add(3*time.Hour).Format(time.RFC3339) + " (rejection_cooloff)"}[w.rejected != ""])
		if !strings.Contains(c.StatusDetail, w.detail) {
			t.Errorf("%s: status detail %q, want it to mention %q", c.Username, c.StatusDetail, w.detail)
		}
	}
	// Warnings in the period: every one emitted, ben's and eli's included.
	n := 0
	for _, ws := range warnings {
		n += len(ws)
	}
	tot := rep.Totals
	if tot.Warnings != n || tot.PassedThreshold != 12 || tot.Retired != 5 || tot.NotRetired != 6 || tot.Kept != 1 ||
		tot.Protected != 2 || tot.Rejected != 3 || tot.Reactivated != 1 || tot.Exempt != 0 {
		t.Errorf("totals = %+v (warnings emitted %d)", tot, n)
	}
	// Worst cases: the rejected trio and cleo are the longest past their threshold; dev and daemon
	// too (never retired: protected).
	if len(rep.Overdue) != 6 || rep.Overdue[0].DaysOverdue < rep.Overdue[5].DaysOverdue {
		t.Errorf("overdue = %+v", rep.Overdue)
	}
	if len(rep.Slowest) != 5 || rep.Slowest[0].DaysToRetirement != tot.MaxDaysToRetire {
		t.Errorf("slowest = %+v, max %d", rep.Slowest, tot.MaxDaysToRetire)
	}
	// Two policy versions decided: the file's, and from day 101 the one OpenMRS changed.
	if len(rep.Versions) != 2 || rep.Versions[0].Current || !rep.Versions[1].Current || rep.Versions[1].Version != rep.Policy.Version ||
		!rep.Versions[1].First.After(auditDay(100)) {
		t.Errorf("versions = %+v, policy now %s", rep.Versions, rep.Policy.Version)
	}
	if cleo := byName["cleo"]; len(cleo.PolicyVersions) != 2 {
		t.Errorf("cleo was warned under both versions; the report says %v", cleo.PolicyVersions)
	}

	// The CSV has one line per case, in the report's order, and the HTML names every account.
	var buf bytes.Buffer
	if err := audit.WriteCSV(&buf, rep); err != nil {
		t.Fatal(err)
	}
	lines, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != len(rep.Cases)+1 || !slices.Equal(lines[0], audit.CSVHeader) {
		t.Fatalf("csv has %d lines, header %v", len(lines), lines[0])
	}
	for i, c := range rep.Cases {
		if !slices.Equal(lines[i+1], audit.CSVRow("main", c)) {
			t.Errorf("csv line %d = %v, want %v", i+1, lines[i+1], audit.CSVRow("main", c))
		}
	}
	buf.Reset()
	if err := audit.WriteHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	for _, n := range wantNames {
		if !strings.Contains(buf.String(), ">"+n+"<") {
			t.Errorf("the HTML report does not name %s", n)
		}
	}
	// The first 30 days saw only the demo account warned once and retired; the days after
	// the period are not in a report of it.
	early, err := h.p.Audit(ctx, "main", auditT0, auditDay(30))
	if err != nil {
		t.Fatal(err)
	}
	if len(early.Cases) != 1 || early.Cases[0].Username != "test-demo" || early.Totals.Warnings != 1 || early.Totals.Retired != 1 {
		t.Errorf("the first 30 days: %+v", early.Totals)
	}
	// A period after everybody's threshold, starting after the retirements, keeps only what was
	// still open: the retired and the kept are not evidence for it.
	late, err := h.p.Audit(ctx, "main", auditDay(110), auditDay(120))
	if err != nil {
		t.Fatal(err)
	}
	var lateNames []string
	for _, c := range late.Cases {
		lateNames = append(lateNames, c.Username)
	}
	if want := []string{"daemon", "dev", "cleo", "gus", "hal", "ivy"}; !slices.Equal(sortedStrings(lateNames), sortedStrings(want)) {
		t.Errorf("days 110-120 name %v, want %v", lateNames, want)
	}
}

func decodeAs[T events.Data](t *testing.T, ev cloudevents.Event) (T, bool) {
	t.Helper()
	var zero T
	if ev.Type() != zero.EventType() {
		return zero, false
	}
	d, err := events.DecodeAs[T](ev)
	if err != nil {
		t.Fatal(err)
	}
	return d, true
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitActuator waits until the actuator has recorded an outcome for every deactivation the
// policy requested, so its records carry the simulated time of the tick that requested them.
func waitActuator(t *testing.T, h *harness, site string) {
	t.Helper()
	hist, err := h.p.store.History(h.ctx, site, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range hist {
		if (e.Kind != policy.HistoryRequested && e.Kind != policy.HistoryReleased) || e.EventID == "" || e.WouldBe {
			continue
		}
		waitUntil(t, "the actuator's outcome of "+e.EventID, func() bool {
			_, ok, err := h.p.actuatorStore.Decision(h.ctx, site, e.EventID)
			return err == nil && ok
		})
	}
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
