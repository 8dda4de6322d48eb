// Package chaos is dormant's fault-injection suite: it runs the real binaries (login-ingest
// and policy as separate `dormant serve` processes, the fake OpenMRS as a process of its own)
// against a nats-server child and PostgreSQL, drives a scripted population through months of
// simulated days while it kills and restarts them, and checks the outcome against an oracle
// computed from the same script. docs/chaos.md says what it proves and how to run it.
//
// The script and the oracle are one thing, the Model: it decides day by day who logs in
// (people stop logging in once retired, some come back when warned), and it keeps what the
// policy must have done with those logins, using the pure rules of package policy. The
// checker (check.go) then compares what the system did with what the model expects, and adds
// invariants that need no model at all (nobody retired twice, while exempt, after a login that
// cancelled the plan, or unwarned).
package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/dormant-dev/dormant/services/policy"
)

// Day is the simulated day: ticks are daily, at midnight UTC.
const Day = 24 * time.Hour

// PolicyBlock is the sites file's policy block of every site, and the oracle's policy: the
// model loads the same text with the same loader, so the two cannot drift apart.
//
// A 30-day period with the default steps puts warnings, comebacks and retirements inside a
// run of two months; the percent limit is off so the batch limit does not depend on counts of
// active users the model would have to mirror; manager is the admin who approves held batches.
const PolicyBlock = `enabled: true
dry_run: false
inactive_after: 30d
warn_before: [14d, 7d, 1d]
demo:
  max_age: 2d
max_deactivations_per_tick: 40
max_deactivations_percent: 0
max_clock_jump: 2d
feed_silence_window: 3d
never_touch: [manager]
`

// Profile is how a person uses OpenMRS.
type Profile string

// Profiles of the population.
const (
	Regular    Profile = "regular"    // logs in most days
	Occasional Profile = "occasional" // logs in every few weeks: warned, often comes back
	Leaver     Profile = "leaver"     // regular until a day, then gone (unless warned back)
	Never      Profile = "never"      // never logs in: measured from the baseline
	Demo       Profile = "demo"       // test-… account: retired 2 days after creation
	Developer  Profile = "developer"  // holds System Developer: never retired
	Retired    Profile = "retired"    // already retired in OpenMRS before dormant
)

// Person is one scripted OpenMRS account.
type Person struct {
	Site, Username     string
	Given, Family      string
	Roles              []string
	Created            time.Time
	Profile            Profile
	Rate               float64 // chance of a login on a day while active
	LeaveDay           int     // Leaver: the first day without habitual logins
	UUID, SystemID     string  // given by OpenMRS when seeded
	SeededRetired      bool
	ManagerPassword    string // set for the admin who approves held batches
	index              int
	retiredByDormant   bool
	lastLogin          *time.Time
	exemption          *policy.Exemption
	state              policy.State
	comebackPropensity float64
}

// Login is one successful login the script sends.
type Login struct {
	Site, UUID, Username string
	At                   time.Time
}

// Warning is a dormant.user.warned the policy must emit exactly once.
type Warning struct {
	ID, Site, UUID string
	Step           time.Duration
	DeactivateOn   time.Time
	At             time.Time
}

// Request is a deactivation the policy must request, and the actuator carry out.
type Request struct {
	ID, Site, UUID, Rule string
	LastActivity         time.Time
	LastLoginAt          *time.Time
	DecidedAt            time.Time
}

// Held is a batch the guard must hold for an admin.
type Held struct {
	Site     string
	At       time.Time
	Requests []Request
}

// TickResult is what the model expects of one tick at one site.
type TickResult struct {
	Site     string
	Warnings []Warning
	Released []Request
	Held     *Held
}

type siteState struct {
	baseline, lastTick, lastFeed time.Time
}

// Model is the script and the oracle.
type Model struct {
	Sites   []string
	People  []*Person
	Start   time.Time // the first tick
	rules   *policy.Rules
	pol     policy.Policy
	rng     *rand.Rand
	byUUID  map[string]*Person
	sites   map[string]*siteState
	logins  map[string]time.Time // uuid → latest successful login sent
	warns   map[string]Warning
	reqs    map[string]Request
	history []Exemption
}

// Exemption is an exemption the script granted, as the checker needs it.
type Exemption struct {
	Site, UUID     string
	CreatedAt      time.Time
	Until          *time.Time
	DuringApproval bool // granted between a hold and its approval
}

// Population sizes the script.
type Population struct {
	Seed         uint64
	Sites        []string
	UsersPerSite int
	Start        time.Time // the first tick (midnight UTC)
}

// NewModel builds the population from the seed; nothing random happens outside the seed.
func NewModel(pop Population) (*Model, error) {
	loaded, err := policy.LoadYAML([]byte(PolicyBlock), nil)
	if err != nil {
		return nil, fmt.Errorf("policy block: %w", err)
	}
	return newModel(pop, loaded.Policy)
}

func newModel(pop Population, pol policy.Policy) (*Model, error) {
	rules, err := policy.Compile(pol)
	if err != nil {
		return nil, err
	}
	m := &Model{Sites: pop.Sites, Start: pop.Start, rules: rules, pol: pol,
		rng:    rand.New(rand.NewPCG(pop.Seed, pop.Seed^0x9e3779b97f4a7c15)),
		byUUID: map[string]*Person{}, sites: map[string]*siteState{}, logins: map[string]time.Time{},
		warns: map[string]Warning{}, reqs: map[string]Request{}}
	for _, site := range pop.Sites {
		m.sites[site] = &siteState{}
		m.People = append(m.People, &Person{Site: site, Username: "manager", Given: "Mary", Family: "Manager",
			Roles: []string{"User Manager"}, Created: pop.Start.AddDate(-2, 0, 0), Profile: Regular, Rate: 0.3, ManagerPassword: "Manager123"})
		for i := 0; i < pop.UsersPerSite; i++ {
			p := &Person{Site: site, Given: fmt.Sprintf("Given%d", i), Family: "Staff", Roles: []string{"Clinician"},
				Created: pop.Start.Add(-time.Duration(30+m.rng.IntN(700)) * Day).Add(time.Duration(m.rng.IntN(86400)) * time.Second)}
			p.Username = fmt.Sprintf("%s-u%04d", site, i)
			switch r := m.rng.Float64(); {
			case r < 0.02:
				p.Profile, p.Username, p.Family = Demo, fmt.Sprintf("test-%s-%04d", site, i), "Test Account"
				p.Rate = 0.5
			case r < 0.04:
				p.Profile, p.Roles, p.Rate = Developer, []string{"System Developer"}, 0.02
			case r < 0.05:
				p.Profile, p.SeededRetired = Retired, true
			case r < 0.13:
				p.Profile = Never
			case r < 0.40:
				p.Profile, p.Rate = Occasional, 0.02+0.05*m.rng.Float64()
			case r < 0.60:
				p.Profile, p.Rate, p.LeaveDay = Leaver, 0.3+0.5*m.rng.Float64(), 1+m.rng.IntN(60)
			default:
				p.Profile, p.Rate = Regular, 0.3+0.6*m.rng.Float64()
			}
			p.comebackPropensity = 0.25 * m.rng.Float64()
			m.People = append(m.People, p)
		}
	}
	for i, p := range m.People {
		p.index = i
	}
	return m, nil
}

// Bind records the uuids and system ids OpenMRS gave the seeded people.
func (m *Model) Bind(site, username, uuid, systemID string) {
	for _, p := range m.People {
		if p.Site == site && p.Username == username {
			p.UUID, p.SystemID = uuid, systemID
			m.byUUID[uuid] = p
		}
	}
}

// Policy is the policy the model decides with.
func (m *Model) Policy() policy.Policy { return m.pol }

// Person returns the person with that uuid.
func (m *Model) Person(uuid string) *Person { return m.byUUID[uuid] }

func (m *Model) user(p *Person) policy.User {
	return policy.User{Site: p.Site, UUID: p.UUID, Username: p.Username, SystemID: p.SystemID, GivenName: p.Given,
		FamilyName: p.Family, Roles: p.Roles, Properties: map[string]string{}, CreatedAt: p.Created,
		Retired: p.SeededRetired || p.retiredByDormant, LastLoginAt: p.lastLogin}
}

// retired says whether OpenMRS holds the person retired (seeded, or by dormant).
func (p *Person) retired() bool { return p.SeededRetired || p.retiredByDormant }

// DayLogins decides who logs in between from and to (the day before the tick at to): people
// keep their habits, leavers stop, warned people sometimes come back, retired people do not
// log in (OpenMRS refuses them). Times are whole seconds strictly inside the day.
func (m *Model) DayLogins(day int, from, to time.Time) []Login {
	var out []Login
	span := int(to.Sub(from) / time.Second)
	for _, p := range m.People {
		if p.retired() || p.Profile == Never {
			continue
		}
		chance := p.Rate
		if p.Profile == Leaver && day >= p.LeaveDay {
			chance = 0
		}
		if p.state.Warned != 0 && !p.state.Requested {
			chance += p.comebackPropensity // the warning email brings some back
		}
		if m.rng.Float64() >= chance {
			continue
		}
		at := from.Add(time.Duration(1+m.rng.IntN(span-1)) * time.Second)
		out = append(out, Login{Site: p.Site, UUID: p.UUID, Username: p.Username, At: at})
	}
	return out
}

// Apply folds logins into the model, as login-ingest and the projection must.
func (m *Model) Apply(logins []Login) {
	for _, l := range logins {
		p := m.byUUID[l.UUID]
		if p.lastLogin == nil || l.At.After(*p.lastLogin) {
			at := l.At
			p.lastLogin = &at
			m.logins[l.UUID] = at
		}
		if s := m.sites[l.Site]; l.At.After(s.lastFeed) {
			s.lastFeed = l.At
		}
	}
}

// LastLogins is the latest successful login of every person who has one.
func (m *Model) LastLogins() map[string]time.Time { return maps(m.logins) }

// Pending lists people of site with a warning out and no deactivation requested yet: the ones
// an exemption or a login can still save.
func (m *Model) Pending(site string) []*Person {
	var out []*Person
	for _, p := range m.People {
		if p.Site == site && p.state.Warned != 0 && !p.state.Requested && !p.retired() {
			out = append(out, p)
		}
	}
	return out
}

// Exempt grants p an exemption from createdAt until until (nil: until removed).
func (m *Model) Exempt(p *Person, createdAt time.Time, until *time.Time, duringApproval bool) policy.Exemption {
	e := policy.Exemption{UserUUID: p.UUID, Reason: "chaos: on transfer", By: "chaos", Until: until, CreatedAt: createdAt}
	p.exemption = &e
	m.history = append(m.history, Exemption{Site: p.Site, UUID: p.UUID, CreatedAt: createdAt, Until: until, DuringApproval: duringApproval})
	return e
}

// Exemptions lists every exemption granted.
func (m *Model) Exemptions() []Exemption { return slices.Clone(m.history) }

// Rand is the model's random source, for the driver's scripted choices (which users to
// exempt, which events to duplicate): one seed decides the whole run's script.
func (m *Model) Rand() *rand.Rand { return m.rng }

// Tick decides the tick at for every site, as the policy service must: Evaluate per user in
// uuid order, the guard on the real requests, a held batch instead of requests when it holds.
// A tick not after a site's last one changes nothing.
func (m *Model) Tick(at time.Time) []TickResult {
	var out []TickResult
	for _, site := range m.Sites {
		s := m.sites[site]
		if !policy.TickAccepted(s.lastTick, at) {
			continue
		}
		if s.baseline.IsZero() {
			s.baseline = at
		}
		res := TickResult{Site: site}
		var people []*Person
		for _, p := range m.People {
			if p.Site == site {
				people = append(people, p)
			}
		}
		sort.Slice(people, func(i, j int) bool { return people[i].UUID < people[j].UUID })
		var requests []Request
		for _, p := range people {
			var ex []policy.Exemption
			if p.exemption != nil {
				ex = []policy.Exemption{*p.exemption}
			}
			out, next := m.rules.Evaluate(m.user(p), p.state, ex, s.baseline, at)
			p.state = next
			switch out.Kind {
			case policy.KindWarn:
				w := Warning{ID: out.ID, Site: site, UUID: p.UUID, Step: out.Step, DeactivateOn: out.DeactivateOn, At: at}
				res.Warnings = append(res.Warnings, w)
				m.warns[w.ID] = w
			case policy.KindDeactivate:
				requests = append(requests, Request{ID: out.ID, Site: site, UUID: p.UUID, Rule: out.Rule,
					LastActivity: out.LastActivity, LastLoginAt: p.lastLogin, DecidedAt: at})
			}
		}
		if hold, _ := policy.Guard(m.pol, len(requests), 0, s.lastTick, at, s.lastFeed); hold {
			res.Held = &Held{Site: site, At: at, Requests: requests}
		} else {
			res.Released = requests
			m.release(requests)
		}
		s.lastTick = at
		out = append(out, res)
	}
	return out
}

func (m *Model) release(rs []Request) {
	for _, r := range rs {
		m.reqs[r.ID] = r
		m.byUUID[r.UUID].retiredByDormant = true
	}
}

// Approve releases a held batch as the policy service's approval must: every request except
// those whose user retired, logged in after the decision's last activity, is exempt now (wall
// clock) or at the site's last tick, or whose plan changed. It returns the released requests.
func (m *Model) Approve(h *Held, now time.Time) []Request {
	s := m.sites[h.Site]
	var released []Request
	for _, r := range h.Requests {
		p := m.byUUID[r.UUID]
		switch {
		case p.retired():
		case p.lastLogin != nil && p.lastLogin.After(r.LastActivity):
		case p.exemption != nil && (p.exemption.ActiveAt(now) || p.exemption.ActiveAt(s.lastTick)):
		case !p.state.Requested || policy.DecisionID(h.Site, r.UUID, p.state) != r.ID:
		default:
			released = append(released, r)
		}
	}
	m.release(released)
	return released
}

// Expected is what the checker compares the system with.
func (m *Model) Expected() Expected {
	e := Expected{LastLogins: maps(m.logins), Warnings: map[string]Warning{}, Requests: map[string]Request{},
		Retired: map[string]Request{}, Exemptions: m.Exemptions(), InactiveAfter: m.pol.InactiveAfter,
		DemoMaxAge: m.pol.Demo.MaxAge, People: map[string]PersonFacts{}}
	for id, w := range m.warns {
		e.Warnings[id] = w
	}
	for id, r := range m.reqs {
		e.Requests[id] = r
		e.Retired[r.UUID] = r
	}
	for _, p := range m.People {
		if p.UUID == "" {
			continue
		}
		e.People[p.UUID] = PersonFacts{Site: p.Site, Username: p.Username, Created: p.Created, Demo: m.rules.IsDemo(m.user(p)),
			Baseline: m.sites[p.Site].baseline, Protected: p.Profile == Developer || p.SeededRetired || p.ManagerPassword != ""}
	}
	return e
}

func maps[K comparable, V any](in map[K]V) map[K]V {
	out := make(map[K]V, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
