package notifier

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/dormant-dev/dormant/services/openmrs"
)

// Roster lists a site's OpenMRS users (*openmrs.Client).
type Roster interface {
	EachUser(ctx context.Context, pageSize, startIndex int, fn func(u openmrs.User, index int) error) error
}

// OpenMRSAdmins returns the admins to alert: the configured uuids when there are any, or else
// the active users holding the System Developer role, read from OpenMRS and kept for refresh.
// (The policy projection has the roles too, but offers no query by role yet; reading OpenMRS
// at most once per refresh period is cheap next to the alerts it serves.)
func OpenMRSAdmins(configured []string, roster Roster, refresh time.Duration) func(ctx context.Context) ([]string, error) {
	if len(configured) > 0 {
		list := slices.Clone(configured)
		return func(context.Context) ([]string, error) { return list, nil }
	}
	var (
		mu      sync.Mutex
		cached  []string
		fetched time.Time
	)
	return func(ctx context.Context) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if !fetched.IsZero() && time.Since(fetched) < refresh {
			return cached, nil
		}
		var found []string
		err := roster.EachUser(ctx, 0, 0, func(u openmrs.User, _ int) error {
			if !u.Retired && u.HasRole(openmrs.SuperUserRole) {
				found = append(found, u.UUID)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		cached, fetched = found, time.Now()
		return cached, nil
	}
}
