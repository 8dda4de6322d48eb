package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// ErrStaleTick is returned by CommitTick when the site has already processed a tick at or
// after the one being committed: the tick was decided already (a redelivery after a crash
// between commit and ack, or a second replica), so nothing more must happen.
var ErrStaleTick = errors.New("tick is not newer than the last one processed")

// ErrNotPending is returned when a held batch is approved or rejected after it was decided.
var ErrNotPending = errors.New("held batch is not pending")

// ErrNotCommitted is returned by RecordFailure when the failed decision is not in the history
// yet: the actuator can fail a request before the tick that published it has committed, and
// the user's state is then not (yet) the request's plan.
var ErrNotCommitted = errors.New("the failed decision is not committed yet")

// SiteState is what the policy keeps per site between ticks.
type SiteState struct {
	Site string
	// Baseline is the time of the first tick processed for the site: users never seen
	// logging in are measured from it at the earliest. Zero until that tick is committed.
	Baseline time.Time
	// LastTick is the latest tick processed; older and equal ticks are ignored.
	LastTick time.Time
	// LastFeedAt is the newest last login recorded for the site (feed health): the login
	// feed has been silent since then. Zero when no login was ever recorded.
	LastFeedAt time.Time
	// DemoKey fingerprints the demo criteria the users' is_demo flags were computed with.
	DemoKey string
}

// Candidate is a user a tick evaluates, with the state kept from earlier ticks.
type Candidate struct {
	User  User
	State State
}

// StateChange sets a user's state; a zero State deletes it (nothing pending).
type StateChange struct {
	UserUUID string
	State    State
}

// History kinds: every decision and every change of what protects a user is recorded.
const (
	HistoryWarned           = "warned"
	HistoryRequested        = "deactivation_requested"
	HistoryHeld             = "held"
	HistoryApproved         = "approved"
	HistoryRejected         = "rejected"
	HistoryReleased         = "released"         // a held request published on approval
	HistoryApprovalSkipped  = "approval_skipped" // a held request dropped on approval (logged in, exempt, retired)
	HistoryCancelled        = "cancelled"        // pending warnings/deactivation dropped (login, protection, policy change)
	HistoryExemptionAdded   = "exemption_added"
	HistoryExemptionEnded   = "exemption_ended"
	HistoryExemptionRemoved = "exemption_removed"
	// HistoryFailureRecorded: the actuator gave up on a deactivation (its error, attempts and
	// whether a retry may pass are in the reason) and the policy returned the user to due,
	// or kept a plan that had moved on since the request.
	HistoryFailureRecorded = "failure_recorded"
)

// HistoryEntry is one line of the decision history.
type HistoryEntry struct {
	Site string
	// UserUUID is empty for entries about a whole batch.
	UserUUID string
	Kind     string
	At       time.Time
	// PolicyVersion is the version of the policy the decision was made under ("" for admin
	// actions that are not policy decisions).
	PolicyVersion string
	// By is who decided: "policy" for ticks, an admin's username for approvals and exemptions.
	By      string
	Reason  string
	EventID string
	BatchID string
	// WouldBe marks a dry-run decision.
	WouldBe bool
}

// HeldStatus is where a held batch stands.
type HeldStatus string

// Held batch statuses.
const (
	HeldPending  HeldStatus = "pending"
	HeldApproved HeldStatus = "approved"
	HeldRejected HeldStatus = "rejected"
)

// HeldRequest is one deactivation request of a held batch, kept exactly as it would have
// been emitted so an approval publishes the very same request (same id).
type HeldRequest struct {
	DecisionID    string     `json:"decision_id"`
	UserUUID      string     `json:"user_uuid"`
	Username      string     `json:"username,omitempty"`
	Rule          string     `json:"rule"`
	Reason        string     `json:"reason"`
	LastLoginAt   *time.Time `json:"last_login_at"`
	LastActivity  time.Time  `json:"last_activity"`
	DecidedAt     time.Time  `json:"decided_at"`
	PolicyVersion string     `json:"policy_version"`
}

// HeldBatch is a tick's deactivations waiting for an admin's approval.
type HeldBatch struct {
	Site    string
	BatchID string
	// Tick is the tick that held the batch.
	Tick      time.Time
	Reason    string
	Limit     int
	Requests  []HeldRequest
	Status    HeldStatus
	DecidedBy string
	DecidedAt time.Time
}

// DueAgain returns a user of a rejected held batch to due: State replaces the user's state,
// but only while the stored state is still the plan the batch held (requested, with
// DecisionID). A user whose plan moved on since (a login, a protection, a policy change) keeps
// the newer state: the rejection must not resurrect an old cycle.
type DueAgain struct {
	UserUUID   string
	DecisionID string
	State      State
}

// StillHeld reports whether st is the plan of the held request with decisionID: requested,
// and with the same decision id (rule, anchor, deactivation day, dry run).
func StillHeld(site, userUUID string, st State, decisionID string) bool {
	return st.Requested && DecisionID(site, userUUID, st) == decisionID
}

// DeactivationFailure is what the policy does when the actuator gives up on a request: the
// user returns to due (Due, applied only while StillHeld holds for the stored state, so a
// login or a newer plan since the request wins), and the history records Applied, or Kept
// when the plan had moved on. EventID (the failure event's id) is recorded with the entry
// and makes a redelivery change nothing.
type DeactivationFailure struct {
	Site    string
	EventID string
	Due     DueAgain
	Applied HistoryEntry
	Kept    HistoryEntry
	// Settle records Kept even when the decision (an entry of kind requested or released
	// with its id) is not in the history; without it that case is ErrNotCommitted and
	// changes nothing, so the caller tries again once the tick has committed.
	Settle bool
}

// FailureOutcome is what RecordFailure did.
type FailureOutcome string

// Failure outcomes.
const (
	FailureDueAgain  FailureOutcome = "due_again" // the user is due again (Applied recorded)
	FailureKept      FailureOutcome = "kept"      // the plan had moved on (Kept recorded)
	FailureDuplicate FailureOutcome = "duplicate" // the event was recorded before: nothing changed
)

// TickCommit is everything one tick changes for one site, stored atomically: a crash before
// it leaves the site as it was, so the redelivered tick decides the same again.
type TickCommit struct {
	Site     string
	At       time.Time
	Baseline time.Time
	States   []StateChange
	History  []HistoryEntry
	// Held is the batch the tick held, if any.
	Held *HeldBatch
}

// DecisionStore is the part of the projection the decision engine keeps: per-site tick
// bookkeeping, per-user states, exemptions, held batches and the history.
type DecisionStore interface {
	// SiteState returns the site's bookkeeping; a site never seen gives a zero SiteState
	// with Site set.
	SiteState(ctx context.Context, site string) (SiteState, error)
	// ClassifyDemo (re)computes the is_demo flag of the site's users with isDemo: all of them
	// when key differs from the site's DemoKey, otherwise only users synced since. It
	// returns how many users it classified.
	ClassifyDemo(ctx context.Context, site, key string, isDemo func(User) bool) (int, error)
	// Candidates returns the roster-synced users a tick must evaluate: non-retired users
	// whose last activity is before c.ActivityBefore, demo users created before
	// c.DemoCreatedBefore, and every user with a state. With c nil, only users with a state.
	Candidates(ctx context.Context, site string, baseline time.Time, c *Cutoffs) ([]Candidate, error)
	// EachUser calls fn for every roster-synced user of the site with its state, in uuid order.
	EachUser(ctx context.Context, site string, fn func(Candidate) error) error
	// ActiveUsers counts the site's roster-synced, non-retired users.
	ActiveUsers(ctx context.Context, site string) (int, error)
	// UserState returns a user's state (zero when nothing is pending).
	UserState(ctx context.Context, site, userUUID string) (State, error)
	// UserByUsername finds a user by username, in any case, or returns ErrNotFound.
	UserByUsername(ctx context.Context, site, username string) (User, error)
	// CommitTick stores a tick's outcome atomically, or returns ErrStaleTick when the site
	// already processed a tick at or after c.At.
	CommitTick(ctx context.Context, c TickCommit) error

	// Exemptions lists the site's exemptions, active or not.
	Exemptions(ctx context.Context, site string) ([]Exemption, error)
	// PutExemption adds or replaces the exemption of a user and records h.
	PutExemption(ctx context.Context, site string, e Exemption, h HistoryEntry) error
	// EndExemption sets the user's exemption to expire at until and records h; ErrNotFound
	// when the user has none.
	EndExemption(ctx context.Context, site, userUUID string, until time.Time, h HistoryEntry) error
	// RemoveExemption deletes the user's exemption and records h; ErrNotFound when none.
	RemoveExemption(ctx context.Context, site, userUUID string, h HistoryEntry) error

	// HeldBatch returns one held batch, or ErrNotFound.
	HeldBatch(ctx context.Context, site, batchID string) (HeldBatch, error)
	// HeldBatches lists the site's held batches with the status ("" for all), newest first.
	HeldBatches(ctx context.Context, site string, status HeldStatus) ([]HeldBatch, error)
	// DecideHeld moves a pending batch to status, recording who and when and the history
	// entries, and applies due (each only while StillHeld holds for the stored state, see
	// DueAgain), all in one transaction; ErrNotPending when it was decided already (nothing
	// changes), ErrNotFound when unknown.
	DecideHeld(ctx context.Context, site, batchID string, status HeldStatus, by string, at time.Time, h []HistoryEntry, due []DueAgain) error

	// RecordFailure applies f in one transaction: nothing when the user's history already
	// has a HistoryFailureRecorded entry with f.EventID (FailureDuplicate); otherwise the
	// user's state becomes f.Due.State with f.Applied recorded while StillHeld holds for the
	// stored state (FailureDueAgain), else f.Kept is recorded and the state left alone
	// (FailureKept), or, when the decision is not in the history yet and !f.Settle, nothing
	// changes and the error is ErrNotCommitted.
	RecordFailure(ctx context.Context, f DeactivationFailure) (FailureOutcome, error)

	// History returns the site's history, oldest first, for one user (userUUID "" for all).
	History(ctx context.Context, site, userUUID string) ([]HistoryEntry, error)
}

// DemoKey fingerprints the criteria that make a user a demo account (not MaxAge): the store's
// is_demo flags stay valid while it does not change.
func (p Policy) DemoKey() string {
	d := p.Demo
	parts := append([]string{"demo-v1", d.SystemIDPattern, d.Property.Name, d.Property.Value, "|"}, lowerAll(sortedCopy(d.UsernamePrefixes))...)
	parts = append(parts, "|")
	parts = append(parts, lowerAll(sortedCopy(d.FamilyNames))...)
	h := sha256.New()
	for _, s := range parts {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
