// Package audit builds the evidence an auditor asks of account retirement at one site over a
// period (NIST SP 800-53 AC-2(3), PCI DSS 8.2.6): the policy in force and its versions, every
// account that passed the inactivity threshold, what dormant did about it and when (each
// warning, exemption, hold, approval or rejection, retirement, reactivation), and the time
// from the threshold to the retirement, with totals and the worst cases first.
//
// The report is a pure function of recorded facts (Build): the decision history the policy
// keeps, what the actuator did, the reactivations, and the accounts the projection holds
// now. It reads no database and no bus; the policy service gathers the facts.
package audit

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// Day is 24 hours; the report counts in calendar days (UTC).
const Day = 24 * time.Hour

// Setting is one effective policy value and where it comes from.
type Setting struct {
	Key, Value, Source string
}

// PolicyInForce is the site's effective policy when the report is made.
type PolicyInForce struct {
	Version  string
	Settings []Setting
}

// Action is what the actuator did with one deactivation request.
type Action struct {
	DecisionID, UserUUID, Username string
	// Outcome is the actuator's: deactivated, superseded, would_be, refused, failed.
	Outcome, Detail string
	At              time.Time
}

// Reactivation is an unretirement, with who and why.
type Reactivation struct {
	UserUUID, Username, By, Reason string
	At                             time.Time
}

// Account is what the projection holds now of a non-retired user: it lets the report list the
// accounts past the threshold that no decision names (protected ones, or a site in dry run).
type Account struct {
	UUID, Username string
	Rule           string
	// LastActivity is what inactivity is measured from now (last login, or creation/baseline).
	LastActivity time.Time
	// Threshold is LastActivity plus the rule's period.
	Threshold time.Time
	// Protection says why the policy leaves the account alone ("" when it does not).
	Protection string
}

// Facts are everything the report is made of.
type Facts struct {
	Site string
	// From and To bound the period: From included, To excluded.
	From, To    time.Time
	GeneratedAt time.Time
	Policy      PolicyInForce
	// History is the site's decision history (policy.Store.History), oldest first.
	History       []policy.HistoryEntry
	Actions       []Action
	Reactivations []Reactivation
	Accounts      []Account
}

// Version is one policy version that decided during the period.
type Version struct {
	Version     string
	First, Last time.Time
	Decisions   int
	Current     bool
}

// Step is one dated thing that happened in a case.
type Step struct {
	At            time.Time
	Kind          string
	By            string
	Detail        string
	PolicyVersion string
	WouldBe       bool
}

// Warning is one warning of a case.
type Warning struct {
	At       time.Time
	DaysLeft int
	WouldBe  bool
}

// Exemption is one exemption that covered a case.
type Exemption struct {
	Reason, By string
	From       time.Time
	// Until is when it ended or ends (nil: until removed, and not removed).
	Until *time.Time
}

// Case statuses, as of the end of the period.
const (
	StatusRetired     = "retired"
	StatusReactivated = "retired, then reactivated"
	StatusKept        = "kept: logged in again"
	StatusExempt      = "exempt"
	StatusProtected   = "protected"
	StatusHeld        = "held for approval"
	StatusRejected    = "rejected by an admin"
	StatusRequested   = "deactivation requested"
	StatusFailed      = "deactivation failed"
	StatusRefused     = "deactivation refused"
	StatusDryRun      = "dry run only"
	StatusPending     = "warned, deactivation day not reached"
	StatusUndecided   = "not decided"
)

// Case is one account's passage past the inactivity threshold: from its last activity to its
// retirement, or to whatever else became of it by the end of the period.
type Case struct {
	UserUUID, Username, Rule string
	// LastActivity and Threshold are dates (UTC midnight): Threshold = LastActivity + period.
	LastActivity, Threshold time.Time
	Warnings                []Warning
	Exemptions              []Exemption
	// Requested is when the deactivation was requested (zero: not yet).
	Requested time.Time
	// Retired is when OpenMRS retired the account (zero: not retired by the end of the period).
	Retired      time.Time
	Reactivated  *Reactivation
	Status       string
	StatusDetail string
	// DaysToRetirement counts calendar days from the threshold to the retirement (retired
	// cases only).
	DaysToRetirement int
	// DaysOverdue counts calendar days from the threshold to the end of the period for a case
	// still not retired then (0 otherwise).
	DaysOverdue    int
	PolicyVersions []string
	Timeline       []Step
	// closedAt is when the case ended before the period's end (retired or logged in again).
	closedAt time.Time
}

// Totals are the report's headline figures.
type Totals struct {
	PassedThreshold  int
	Retired          int
	NotRetired       int
	Exempt           int
	Protected        int
	Held             int
	Rejected         int
	Kept             int
	Reactivated      int
	MaxDaysToRetire  int
	MeanDaysToRetire float64
	// RetiredOnTime counts retirements on the threshold day or the day after.
	RetiredOnTime int
	// Warnings counts the warnings sent in the period (all accounts, would-be ones apart).
	Warnings       int
	WarnedAccounts int
}

// Report is the audit evidence for one site and period.
type Report struct {
	Site                  string
	From, To, GeneratedAt time.Time
	// AsOf is the instant statuses are given at: the end of the period, or when the report
	// was made if that is earlier.
	AsOf     time.Time
	Policy   PolicyInForce
	Versions []Version
	Totals   Totals
	// Slowest are the retired cases with the longest time from threshold to retirement.
	Slowest []Case
	// Overdue are the cases past the threshold and not retired at AsOf, longest first.
	Overdue []Case
	// Cases are all of them, by threshold date, then username.
	Cases []Case
}

// WorstCases is how many cases each worst-case list shows.
const WorstCases = 10

var (
	anchorRE   = regexp.MustCompile(`(?:no login since|inactive since|created) (\d{4}-\d{2}-\d{2})`)
	ruleRE     = regexp.MustCompile(`rule ([A-Za-z0-9_.-]+) \(([^)]+)\)`)
	daysLeftRE = regexp.MustCompile(`^(\d+) days? left`)
	untilRE    = regexp.MustCompile(`^until (removed|\S+): (.*)$`)
)

// cycle is what a decision's reason says of the cycle it belongs to: the decision engine
// writes the anchor date and the rule with its period into every warning and request.
type cycle struct {
	anchor time.Time
	rule   string
	period time.Duration
}

func parseCycle(reason string) (cycle, bool) {
	a := anchorRE.FindStringSubmatch(reason)
	r := ruleRE.FindStringSubmatch(reason)
	if a == nil || r == nil {
		return cycle{}, false
	}
	anchor, err := time.Parse(time.DateOnly, a[1])
	if err != nil {
		return cycle{}, false
	}
	period, err := policy.ParseDuration(r[2])
	if err != nil {
		return cycle{}, false
	}
	return cycle{anchor: anchor, rule: r[1], period: period}, true
}

func date(t time.Time) time.Time { return t.UTC().Truncate(Day) }

func days(from, to time.Time) int { return int(date(to).Sub(date(from)) / Day) }

// Build makes the report from the facts.
func Build(f Facts) Report {
	rep := Report{Site: f.Site, From: f.From.UTC(), To: f.To.UTC(), GeneratedAt: f.GeneratedAt.UTC(), Policy: f.Policy}
	rep.AsOf = rep.To
	if !rep.GeneratedAt.IsZero() && rep.GeneratedAt.Before(rep.AsOf) {
		rep.AsOf = rep.GeneratedAt
	}
	asOf := rep.AsOf
	inPeriod := func(t time.Time) bool { return !t.Before(rep.From) && t.Before(asOf) }

	b := builder{open: map[string]*Case{}, byDecision: map[string]*Case{}, batches: map[string][]*Case{}}
	history := slices.Clone(f.History)
	slices.SortStableFunc(history, func(a, b policy.HistoryEntry) int { return a.At.Compare(b.At) })
	versions := map[string]*Version{}
	warned := map[string]bool{}
	for _, h := range history {
		if !h.At.Before(asOf) {
			continue
		}
		if h.PolicyVersion != "" && h.By == "policy" {
			v := versions[h.PolicyVersion]
			if v == nil {
				v = &Version{Version: h.PolicyVersion, First: h.At}
				versions[h.PolicyVersion] = v
			}
			v.Last = h.At
			if inPeriod(h.At) {
				v.Decisions++
			}
		}
		if h.Kind == policy.HistoryWarned && !h.WouldBe && inPeriod(h.At) {
			rep.Totals.Warnings++
			warned[h.UserUUID] = true
		}
		b.history(h)
	}
	rep.Totals.WarnedAccounts = len(warned)

	actions := slices.Clone(f.Actions)
	slices.SortStableFunc(actions, func(a, b Action) int { return a.At.Compare(b.At) })
	for _, a := range actions {
		if a.At.Before(asOf) {
			b.action(a)
		}
	}
	reacts := slices.Clone(f.Reactivations)
	slices.SortStableFunc(reacts, func(a, b Reactivation) int { return a.At.Compare(b.At) })
	for _, r := range reacts {
		if r.At.Before(asOf) {
			b.reactivation(r)
		}
	}
	// Accounts past the threshold that no decision of their current cycle names.
	for _, a := range f.Accounts {
		if a.Threshold.IsZero() || !a.Threshold.Before(asOf) {
			continue
		}
		if c := b.open[a.UUID]; c != nil && c.LastActivity.Equal(date(a.LastActivity)) {
			if a.Protection != "" && c.StatusDetail == "" {
				c.StatusDetail = a.Protection
			}
			continue
		}
		c := &Case{UserUUID: a.UUID, Username: a.Username, Rule: a.Rule, LastActivity: date(a.LastActivity), Threshold: date(a.Threshold), StatusDetail: a.Protection}
		if a.Protection != "" {
			c.Status = StatusProtected
		}
		b.cases = append(b.cases, c)
		b.open[a.UUID] = c
	}
	b.exemptions(asOf)

	names := map[string]string{}
	for _, a := range f.Accounts {
		names[a.UUID] = a.Username
	}
	for _, a := range actions {
		if a.Username != "" {
			names[a.UserUUID] = a.Username
		}
	}
	for _, c := range b.cases {
		if c.Username == "" {
			c.Username = names[c.UserUUID]
		}
		// Only cases that passed the threshold before the end of the period, and were not
		// over before it began, are evidence for the period.
		// A case that a login ended before its threshold never passed it.
		if !c.Threshold.Before(asOf) || (!c.closedAt.IsZero() && (c.closedAt.Before(rep.From) || c.closedAt.Before(c.Threshold))) {
			continue
		}
		c.finish(asOf)
		rep.Cases = append(rep.Cases, *c)
	}
	slices.SortStableFunc(rep.Cases, func(a, b Case) int {
		return cmp.Or(a.Threshold.Compare(b.Threshold), strings.Compare(a.Username, b.Username), strings.Compare(a.UserUUID, b.UserUUID))
	})
	rep.totals()
	for id, v := range versions {
		v.Current = id == f.Policy.Version
		// A version counts when it decided in the period, or was the last in force before it.
		if v.Decisions > 0 || (v.Last.Before(rep.From) && lastBefore(versions, rep.From) == id) {
			rep.Versions = append(rep.Versions, *v)
		}
	}
	slices.SortFunc(rep.Versions, func(a, b Version) int { return a.First.Compare(b.First) })
	return rep
}

func lastBefore(versions map[string]*Version, t time.Time) string {
	best, id := time.Time{}, ""
	for k, v := range versions {
		if v.Last.Before(t) && v.Last.After(best) {
			best, id = v.Last, k
		}
	}
	return id
}

// builder sorts the facts into cases, in time order.
type builder struct {
	cases []*Case
	// open is each user's latest case.
	open       map[string]*Case
	byDecision map[string]*Case
	batches    map[string][]*Case
	exempts    []exemptionSpan
}

type exemptionSpan struct {
	user string
	Exemption
}

func (b *builder) caseFor(h policy.HistoryEntry) *Case {
	c := b.open[h.UserUUID]
	cy, ok := parseCycle(h.Reason)
	if !ok {
		return c
	}
	anchor := date(cy.anchor)
	if c != nil && c.LastActivity.Equal(anchor) && c.Retired.IsZero() && c.closedAt.IsZero() {
		return c
	}
	c = &Case{UserUUID: h.UserUUID, Rule: cy.rule, LastActivity: anchor, Threshold: date(anchor.Add(cy.period))}
	b.cases = append(b.cases, c)
	b.open[h.UserUUID] = c
	return c
}

func (b *builder) history(h policy.HistoryEntry) {
	if h.UserUUID == "" {
		// A batch's approval or rejection: its per-user entries say the rest.
		return
	}
	step := Step{At: h.At, Kind: h.Kind, By: h.By, Detail: h.Reason, PolicyVersion: h.PolicyVersion, WouldBe: h.WouldBe}
	switch h.Kind {
	case policy.HistoryExemptionAdded:
		e := exemptionSpan{user: h.UserUUID, Exemption: Exemption{By: h.By, From: h.At, Reason: h.Reason}}
		if m := untilRE.FindStringSubmatch(h.Reason); m != nil {
			e.Reason = m[2]
			if until, err := time.Parse(time.RFC3339, m[1]); err == nil {
				until = until.UTC()
				e.Until = &until
			}
		}
		b.endExemption(h.UserUUID, h.At)
		b.exempts = append(b.exempts, e)
		if c := b.open[h.UserUUID]; c != nil && c.closedAt.IsZero() && c.Retired.IsZero() {
			c.Timeline = append(c.Timeline, step)
		}
		return
	case policy.HistoryExemptionEnded, policy.HistoryExemptionRemoved:
		b.endExemption(h.UserUUID, h.At)
		if c := b.open[h.UserUUID]; c != nil && c.closedAt.IsZero() && c.Retired.IsZero() {
			c.Timeline = append(c.Timeline, step)
		}
		return
	}
	c := b.caseFor(h)
	if c == nil {
		return
	}
	c.Timeline = append(c.Timeline, step)
	if h.PolicyVersion != "" && !slices.Contains(c.PolicyVersions, h.PolicyVersion) {
		c.PolicyVersions = append(c.PolicyVersions, h.PolicyVersion)
	}
	if h.EventID != "" && (h.Kind == policy.HistoryRequested || h.Kind == policy.HistoryHeld || h.Kind == policy.HistoryReleased) {
		b.byDecision[h.EventID] = c
	}
	switch h.Kind {
	case policy.HistoryWarned:
		w := Warning{At: h.At, WouldBe: h.WouldBe}
		if m := daysLeftRE.FindStringSubmatch(h.Reason); m != nil {
			w.DaysLeft, _ = strconv.Atoi(m[1])
		}
		c.Warnings = append(c.Warnings, w)
	case policy.HistoryRequested, policy.HistoryReleased:
		if c.Requested.IsZero() && !h.WouldBe {
			c.Requested = h.At
		}
	case policy.HistoryCancelled:
		if strings.HasPrefix(h.Reason, "logged in") {
			c.closedAt = h.At
		}
	}
}

// endExemption closes the user's open exemption at t.
func (b *builder) endExemption(user string, t time.Time) {
	for i := range b.exempts {
		e := &b.exempts[i]
		if e.user == user && (e.Until == nil || e.Until.After(t)) {
			end := t.UTC()
			e.Until = &end
		}
	}
}

func (b *builder) action(a Action) {
	c := b.byDecision[a.DecisionID]
	if c == nil {
		c = b.open[a.UserUUID]
	}
	if c == nil {
		return
	}
	if c.Username == "" {
		c.Username = a.Username
	}
	c.Timeline = append(c.Timeline, Step{At: a.At, Kind: a.Outcome, By: "actuator", Detail: a.Detail})
	if a.Outcome == "deactivated" && c.Retired.IsZero() {
		c.Retired = a.At
		c.closedAt = a.At
	}
}

func (b *builder) reactivation(r Reactivation) {
	// The reactivation answers the user's latest retirement before it.
	var c *Case
	for _, x := range b.cases {
		if x.UserUUID == r.UserUUID && !x.Retired.IsZero() && !x.Retired.After(r.At) && x.Reactivated == nil {
			c = x
		}
	}
	if c == nil {
		return
	}
	rr := r
	c.Reactivated = &rr
	c.Timeline = append(c.Timeline, Step{At: r.At, Kind: "reactivated", By: r.By, Detail: r.Reason})
}

// exemptions attaches each exemption to the cases it covered: from the case's first step (or
// its threshold) to its end (or asOf).
func (b *builder) exemptions(asOf time.Time) {
	for _, c := range b.cases {
		start := c.Threshold
		if len(c.Timeline) > 0 && c.Timeline[0].At.Before(start) {
			start = c.Timeline[0].At
		}
		end := asOf
		if !c.closedAt.IsZero() {
			end = c.closedAt
		}
		for _, e := range b.exempts {
			if e.user != c.UserUUID || e.From.After(end) || (e.Until != nil && e.Until.Before(start)) {
				continue
			}
			c.Exemptions = append(c.Exemptions, e.Exemption)
		}
	}
}

// finish gives the case its status at asOf and its figures.
func (c *Case) finish(asOf time.Time) {
	slices.SortStableFunc(c.Timeline, func(a, b Step) int { return a.At.Compare(b.At) })
	switch {
	case !c.Retired.IsZero():
		c.DaysToRetirement = days(c.Threshold, c.Retired)
		c.Status = StatusRetired
		if c.Reactivated != nil {
			c.Status = StatusReactivated
			c.StatusDetail = "reactivated " + c.Reactivated.At.Format(time.DateOnly) + " by " + c.Reactivated.By + ": " + c.Reactivated.Reason
		}
		return
	case !c.closedAt.IsZero():
		c.Status = StatusKept
		return
	}
	c.DaysOverdue = max(0, days(c.Threshold, asOf))
	for _, e := range c.Exemptions {
		if !e.From.After(asOf) && (e.Until == nil || e.Until.After(asOf)) {
			c.Status, c.StatusDetail = StatusExempt, e.Reason
			return
		}
	}
	if c.Status == StatusProtected {
		return
	}
	// Otherwise the last decisive step says where the case stands.
	c.Status = StatusUndecided
	if len(c.Warnings) > 0 {
		c.Status = StatusPending
	}
	for _, s := range c.Timeline {
		switch s.Kind {
		case policy.HistoryWarned:
			c.Status, c.StatusDetail = StatusPending, ""
		case policy.HistoryHeld:
			c.Status = StatusHeld
		case policy.HistoryRejected:
			c.Status, c.StatusDetail = StatusRejected, s.By+": "+s.Detail
		case policy.HistoryRequested, policy.HistoryReleased:
			if s.WouldBe {
				c.Status = StatusDryRun
			} else {
				c.Status = StatusRequested
			}
		case policy.HistoryApprovalSkipped:
			c.Status, c.StatusDetail = StatusPending, s.Detail
		case "failed":
			c.Status, c.StatusDetail = StatusFailed, s.Detail
		case "refused":
			c.Status, c.StatusDetail = StatusRefused, s.Detail
		case "would_be":
			c.Status = StatusDryRun
		case policy.HistoryCancelled:
			if strings.HasPrefix(s.Detail, "protected") {
				c.Status, c.StatusDetail = StatusProtected, strings.TrimPrefix(s.Detail, "protected: ")
			}
		}
	}
}

func (r *Report) totals() {
	t := &r.Totals
	sum := 0
	for _, c := range r.Cases {
		t.PassedThreshold++
		switch c.Status {
		case StatusRetired, StatusReactivated:
			t.Retired++
			sum += c.DaysToRetirement
			t.MaxDaysToRetire = max(t.MaxDaysToRetire, c.DaysToRetirement)
			if c.DaysToRetirement <= 1 {
				t.RetiredOnTime++
			}
			if c.Reactivated != nil {
				t.Reactivated++
			}
			r.Slowest = append(r.Slowest, c)
			continue
		case StatusKept:
			t.Kept++
			continue
		case StatusExempt:
			t.Exempt++
		case StatusProtected:
			t.Protected++
		case StatusHeld:
			t.Held++
		case StatusRejected:
			t.Rejected++
		}
		t.NotRetired++
		r.Overdue = append(r.Overdue, c)
	}
	if t.Retired > 0 {
		t.MeanDaysToRetire = float64(sum) / float64(t.Retired)
	}
	slices.SortStableFunc(r.Slowest, func(a, b Case) int { return cmp.Compare(b.DaysToRetirement, a.DaysToRetirement) })
	slices.SortStableFunc(r.Overdue, func(a, b Case) int { return cmp.Compare(b.DaysOverdue, a.DaysOverdue) })
	r.Slowest = r.Slowest[:min(len(r.Slowest), WorstCases)]
	r.Overdue = r.Overdue[:min(len(r.Overdue), WorstCases)]
}
