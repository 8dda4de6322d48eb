package admin

import (
	"context"
	"errors"
	"time"

	"github.com/dormant-dev/dormant/services/policy/audit"
)

// Backend is what the admin page reads and changes. The policy service implements it over
// its store, decision engine and actuator; the page holds no state of its own. Every change
// names the admin who made it (by), so the history records it.
type Backend interface {
	Overview(ctx context.Context, site string, now time.Time) (Overview, error)
	// Upcoming gives one page of the users with a deactivation pending, searched and sorted
	// as q says (soonest first by default). The store does the work: the page never sees a
	// site's users one by one.
	Upcoming(ctx context.Context, site string, now time.Time, q UpcomingQuery) (UpcomingPage, error)
	// History lists decisions and actions, newest first, filtered.
	History(ctx context.Context, site string, f HistoryFilter) ([]HistoryRow, error)
	// Retired lists the users dormant retired, newest first.
	Retired(ctx context.Context, site string) ([]Retired, error)
	Reactivate(ctx context.Context, site, userUUID, by, reason string) error

	HeldBatches(ctx context.Context, site string) ([]Held, error)
	ApproveHeld(ctx context.Context, site, batchID, by string) error
	RejectHeld(ctx context.Context, site, batchID, by string) error

	Exemptions(ctx context.Context, site string, now time.Time) ([]ExemptionRow, error)
	// AddExemption protects a user, found by username or uuid, until until (nil: until removed).
	AddExemption(ctx context.Context, site, user, reason string, until *time.Time, by string) error
	EndExemption(ctx context.Context, site, userUUID, by string) error

	// Policy shows the policy in force and where each value comes from.
	Policy(ctx context.Context, site string) (PolicyView, error)
	// WhatIf lists who would be warned or retired at at, under the policy with overrides
	// applied (keys as in the sites file), changing nothing.
	WhatIf(ctx context.Context, site string, at time.Time, overrides map[string]string) (WhatIf, error)

	// Audit gives the audit evidence of the period [from, to) (requests.go, audit.go).
	Audit(ctx context.Context, site string, from, to time.Time) (audit.Report, error)
	// RequestReactivation stores and announces a request made on the public page. It must
	// do the same work whether or not the username exists, so the page's answer and its
	// timing tell nothing about accounts.
	RequestReactivation(ctx context.Context, site, username, note, clientIP string) error
	// ReactivationRequests lists the site's requests, newest first.
	ReactivationRequests(ctx context.Context, site string) ([]ReactivationRequest, error)
	// ApproveRequest reactivates the requested account, with the request's note as the
	// reason and the admin as who; RejectRequest records the admin's reason.
	ApproveRequest(ctx context.Context, site, requestID, by string) error
	RejectRequest(ctx context.Context, site, requestID, by, reason string) error
}

// ErrInvalid marks a change the admin asked for that cannot be made as asked (unknown user,
// missing reason, batch already decided); its message is shown to the admin.
var ErrInvalid = errors.New("invalid request")

// Overview is the first page an admin sees.
type Overview struct {
	ActiveUsers      int
	DueIn30Days      int
	Warned           int
	RetiredThisMonth int
	HeldBatches      int
	// NeverLoggedIn counts active users with no login recorded; Exempt those with an
	// exemption in force; Requested those whose deactivation waits for the actuator.
	NeverLoggedIn, Exempt, Requested int
	// AgeBuckets counts active users by whole days since their last activity (last login,
	// or creation/baseline for users never seen logging in): AgeBuckets[i] holds the ages in
	// [i*AgeBucketDays, (i+1)*AgeBucketDays), the last bucket every older one. The store
	// counts them; the page never sees the users one by one.
	AgeBuckets    []int
	AgeBucketDays int
	// Thresholds are the policy's lines on the age chart: the deactivation age and the
	// warning steps, in days.
	Thresholds []Threshold
	// RetiredPerWeek counts retirements in each of the last weeks, oldest first.
	RetiredPerWeek []WeekCount
	// LastFeedEvent is the newest login the site's hook reported (zero: never).
	LastFeedEvent  time.Time
	PolicyEnabled  bool
	PolicyDryRun   bool
	PolicyVersion  string
	InactiveAfterD int
}

// The age chart's buckets: 15 days wide up to 180 days, and one for older. The backend
// asks its store for these counts.
const (
	AgeBucketDays  = 15
	AgeBucketCount = 180/AgeBucketDays + 1
)

// Threshold is a labelled line on the age chart.
type Threshold struct {
	Label string
	Days  int
}

// WeekCount is one bar of the retirements chart.
type WeekCount struct {
	WeekStart time.Time
	Count     int
}

// Upcoming is a user with a deactivation pending.
type Upcoming struct {
	UserUUID, Username, Name string
	LastLoginAt              *time.Time
	LastActivity             time.Time
	Rule, Reason             string
	DeactivateOn             time.Time
	// Warned is the last warning sent ("" when none yet), e.g. "7 days before".
	Warned  string
	WouldBe bool
}

// UpcomingQuery asks for a page of the upcoming list.
type UpcomingQuery struct {
	// Search keeps the users whose "username name uuid rule" holds it, ignoring case;
	// % and _ are plain characters. Empty: everybody.
	Search string
	// Sort is "" (retirement date), "user", "login" (last activity) or "rule"; ties are
	// broken by uuid, so pages never overlap.
	Sort string
	// UserUUID, when set, keeps only that user.
	UserUUID string
	// Page counts from 1 (past the last: the last); PageSize 0 gives every row.
	Page, PageSize int
}

// UpcomingPage is one page of the upcoming list: Total users on Pages pages.
type UpcomingPage struct {
	Rows               []Upcoming
	Total, Page, Pages int
}

// HistoryFilter narrows the history.
type HistoryFilter struct {
	UserUUID, Kind string
	Limit          int
}

// HistoryRow is one decision or action.
type HistoryRow struct {
	At                                time.Time
	Kind, UserUUID, Username          string
	Reason, By, PolicyVersion, Detail string
	BatchID, EventID                  string
	WouldBe                           bool
}

// Retired is a user dormant retired.
type Retired struct {
	UserUUID, Username, Reason, DecisionID string
	RetiredAt                              time.Time
}

// Held is a batch of deactivations waiting for an admin.
type Held struct {
	BatchID, Reason, Status, DecidedBy string
	Tick, DecidedAt                    time.Time
	Limit                              int
	Users                              []HeldUser
}

// HeldUser is one user of a held batch.
type HeldUser struct {
	UserUUID, Username, Reason string
}

// ExemptionRow is one user's exemption.
type ExemptionRow struct {
	UserUUID, Username, Reason, By string
	Until                          *time.Time
	CreatedAt                      time.Time
	Active                         bool
}

// PolicyView is the policy in force.
type PolicyView struct {
	Version  string
	Settings []Setting
}

// Setting is one policy value and where it comes from (default, file, openmrs, openmrs-core).
type Setting struct {
	Key, Value, Source string
}

// WhatIf is a preview.
type WhatIf struct {
	At       time.Time
	Version  string
	Outcomes []Preview
}

// Preview is what would happen to one user.
type Preview struct {
	UserUUID, Username, Outcome, Rule, Reason string
	DeactivateOn                              time.Time
}
