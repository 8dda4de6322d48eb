package policy

import "time"

// User is what the policy knows about an OpenMRS account: the roster sync's facts plus the
// last login recorded by login-ingest.
type User struct {
	Site       string
	UUID       string
	Username   string
	SystemID   string
	GivenName  string
	FamilyName string
	Email      string
	// Roles should hold every role the user has, inherited ones included (OpenMRS allRoles):
	// an exempt role granted through inheritance still protects.
	Roles      []string
	Properties map[string]string
	CreatedAt  time.Time
	Retired    bool
	// LastLoginAt is nil when no login of the user was ever recorded or backfilled.
	LastLoginAt *time.Time
}

// Exemption protects one user until it expires (nil Until: until removed).
type Exemption struct {
	UserUUID  string
	Reason    string
	By        string
	Until     *time.Time
	CreatedAt time.Time
}

// ActiveAt says whether the exemption protects at t. An exemption protects from its creation
// (so replaying old ticks gives the old decisions) up to, not including, Until.
func (e Exemption) ActiveAt(t time.Time) bool {
	if !e.CreatedAt.IsZero() && t.Before(e.CreatedAt) {
		return false
	}
	return e.Until == nil || t.Before(*e.Until)
}

// LastActivity is the instant a user's inactivity is measured from: the last login, or for a
// user never seen logging in the later of creation and the site's baseline (the first tick the
// policy processed), so installing dormant never makes everybody dormant at once.
//
// In SQL: COALESCE(last_login_at, GREATEST(created_at, :baseline)) (MAX(...) in SQLite).
func LastActivity(u User, baseline time.Time) time.Time {
	if u.LastLoginAt != nil {
		return *u.LastLoginAt
	}
	if baseline.After(u.CreatedAt) {
		return baseline
	}
	return u.CreatedAt
}
