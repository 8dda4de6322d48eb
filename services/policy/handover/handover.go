// Package handover says what an account still holds in OpenMRS before dormant retires it,
// so that the work can be handed over: the active orders its providers placed, the future
// appointments of those providers (where the appointments module is installed), and the
// roles nobody else active at the site holds.
//
// Orders and appointments are read through the site's OpenMRS REST client; roles come from
// the policy projection's roster. What cannot be read is reported as not available, with
// the reason, never as zero. Patient names and identifiers are never kept: the facts go
// into emails and onto the admin page.
//
// Reads are cached per site for MaxAge (the policy service uses its clock's period, so one
// tick's worth of warnings, the admin page and the digest share them): the site's active
// orders are one paged listing for all users, since OpenMRS cannot search orders by
// orderer.
package handover

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/policy"
)

// OpenMRS is what handover reads from a site (*openmrs.Client).
type OpenMRS interface {
	ProvidersOfUser(ctx context.Context, userUUID string) ([]openmrs.Provider, error)
	EachActiveOrder(ctx context.Context, fn func(openmrs.Order) error) error
	FutureAppointments(ctx context.Context, providerUUID string, from time.Time) (openmrs.AppointmentsPage, error)
}

// Projection is the policy projection's roster (policy.Store).
type Projection interface {
	EachUser(ctx context.Context, site string, fn func(policy.Candidate) error) error
}

// MaxListed is how many orders or appointments a section lists; the rest are counted.
const MaxListed = 20

// implicitRoles are the roles core gives every user (User.getAllRoles adds them): nobody is
// ever their last holder in a way that matters.
var implicitRoles = map[string]bool{"Anonymous": true, "Authenticated": true}

// Facts is what one user holds.
type Facts struct {
	Site, UserUUID string
	// ReadAt is when the facts were read (the cache's time).
	ReadAt time.Time
	// Providers are the displays of the user's provider records ("PRV-1 - Ada Okafor").
	Providers []string
	// NotAProvider is true when OpenMRS has no provider for the user: then there are no
	// orders or appointments to hand over, and that is known, not assumed.
	NotAProvider bool
	Orders       Section[Order]
	Appointments Section[Appointment]
	// Roles are the roles that would have no active holder left once the user and the other
	// users due for retirement are gone.
	Roles []Role
}

// Section is a list that may not be available.
type Section[T any] struct {
	Available bool
	// Reason says why the section is not available.
	Reason string
	Items  []T
	// More counts the items found beyond Items (MaxListed).
	More int
	// Truncated is true when OpenMRS had more than could be read: Count is a lower bound.
	Truncated bool
}

// Count is how many items were found.
func (s Section[T]) Count() int { return len(s.Items) + s.More }

// Order is an active order placed by one of the user's providers.
type Order struct {
	Number, Concept, Type string
	Activated             time.Time
	// Expires is zero when the order has no auto-expiry date.
	Expires time.Time
}

// Appointment is a future appointment of one of the user's providers.
type Appointment struct {
	Number, Service, Location, Status string
	Start                             time.Time
}

// Role is a role the user would leave without an active holder.
type Role struct {
	Name string
	// OthersDue counts the other active holders, all of whom are due for retirement too
	// (0: the user is the only active holder).
	OthersDue int
}

// Describe is the role fact in words.
func (r Role) Describe() string {
	if r.OthersDue == 0 {
		return fmt.Sprintf("%s: the only active user with this role", r.Name)
	}
	return fmt.Sprintf("%s: the %d other holders are due for retirement too", r.Name, r.OthersDue)
}

// Empty reports whether there is nothing to hand over and everything could be read.
func (f Facts) Empty() bool {
	return f.Orders.Available && f.Orders.Count() == 0 && f.Appointments.Available && f.Appointments.Count() == 0 && len(f.Roles) == 0
}

// Summary is one line for lists and digests, e.g. "3 active orders, appointments not
// available, last holder of: Pharmacist".
func (f Facts) Summary() string {
	var parts []string
	section := func(name string, avail bool, n int, truncated bool) {
		switch {
		case !avail:
			parts = append(parts, name+" not available")
		case n > 0 && truncated:
			parts = append(parts, fmt.Sprintf("%d+ %s", n, name))
		case n > 0:
			parts = append(parts, fmt.Sprintf("%d %s", n, name))
		}
	}
	section("active orders", f.Orders.Available, f.Orders.Count(), f.Orders.Truncated)
	section("future appointments", f.Appointments.Available, f.Appointments.Count(), f.Appointments.Truncated)
	if len(f.Roles) > 0 {
		names := make([]string, len(f.Roles))
		for i, r := range f.Roles {
			names[i] = r.Name
		}
		parts = append(parts, "last active holder of: "+strings.Join(names, ", "))
	}
	if len(parts) == 0 {
		return "nothing to hand over"
	}
	return strings.Join(parts, "; ")
}

// Config configures a Reader.
type Config struct {
	Projection Projection
	// Sites maps site ids to their OpenMRS client; a site without one gets roles only.
	Sites map[string]OpenMRS
	// MaxAge is how long reads are reused (default 15 minutes).
	MaxAge time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Reader computes Facts, caching per site.
type Reader struct {
	cfg   Config
	mu    sync.Mutex
	sites map[string]*siteCache
}

type siteCache struct {
	mu        sync.Mutex // one refresh at a time
	at        time.Time
	orders    map[string][]openmrs.Order // by orderer (provider uuid)
	ordersErr error
	holders   map[string][]holder // by role name
	users     map[string]Facts
}

type holder struct {
	uuid string
	due  bool
}

// New returns a Reader.
func New(cfg Config) (*Reader, error) {
	if cfg.Projection == nil {
		return nil, errors.New("handover: a projection is required")
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reader{cfg: cfg, sites: map[string]*siteCache{}}, nil
}

func (r *Reader) site(id string) *siteCache {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.sites[id]
	if c == nil {
		c = &siteCache{}
		r.sites[id] = c
	}
	return c
}

// Facts returns what the user holds at the site. An error means the projection could not be
// read; OpenMRS failures are reported inside the Facts as sections not available.
func (r *Reader) Facts(ctx context.Context, site, userUUID string) (Facts, error) {
	c := r.site(site)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := r.cfg.Now().UTC()
	if c.at.IsZero() || now.Sub(c.at) >= r.cfg.MaxAge || now.Before(c.at) {
		if err := r.refresh(ctx, site, c, now); err != nil {
			return Facts{}, err
		}
	}
	if f, ok := c.users[userUUID]; ok {
		return f, nil
	}
	f := Facts{Site: site, UserUUID: userUUID, ReadAt: c.at, Roles: c.lastRoles(userUUID)}
	if r.readOpenMRS(ctx, site, c, &f) {
		c.users[userUUID] = f
	}
	return f, nil
}

// refresh rereads the roster's roles and the site's active orders.
func (r *Reader) refresh(ctx context.Context, site string, c *siteCache, now time.Time) error {
	holders := map[string][]holder{}
	err := r.cfg.Projection.EachUser(ctx, site, func(cd policy.Candidate) error {
		if cd.User.Retired {
			return nil
		}
		st := cd.State
		due := !st.IsZero() && !st.DeactivateOn.IsZero()
		seen := map[string]bool{}
		for _, role := range cd.User.Roles {
			if implicitRoles[role] || seen[role] {
				continue
			}
			seen[role] = true
			holders[role] = append(holders[role], holder{uuid: cd.User.UUID, due: due})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("handover: read the roster of %s: %w", site, err)
	}
	c.holders, c.users, c.at = holders, map[string]Facts{}, now
	c.orders, c.ordersErr = nil, nil
	client := r.cfg.Sites[site]
	if client == nil {
		return nil
	}
	orders := map[string][]openmrs.Order{}
	c.ordersErr = client.EachActiveOrder(ctx, func(o openmrs.Order) error {
		if o.OrdererUUID != "" && o.ActiveAt(now) {
			orders[o.OrdererUUID] = append(orders[o.OrdererUUID], o)
		}
		return nil
	})
	if c.ordersErr == nil {
		c.orders = orders
	}
	return nil
}

// lastRoles lists the user's roles that no active user who is not due holds.
func (c *siteCache) lastRoles(userUUID string) []Role {
	var out []Role
	for name, hs := range c.holders {
		mine, others, othersDue := false, 0, 0
		for _, h := range hs {
			switch {
			case h.uuid == userUUID:
				mine = true
			case h.due:
				others++
				othersDue++
			default:
				others++
			}
		}
		if mine && others == othersDue {
			out = append(out, Role{Name: name, OthersDue: othersDue})
		}
	}
	slices.SortFunc(out, func(a, b Role) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// readOpenMRS fills the orders and appointments of f. It reports whether the result may be
// cached: a failure other than a missing module is asked again next time.
func (r *Reader) readOpenMRS(ctx context.Context, site string, c *siteCache, f *Facts) bool {
	client := r.cfg.Sites[site]
	if client == nil {
		f.Orders.Reason = "the site has no OpenMRS connection configured"
		f.Appointments.Reason = f.Orders.Reason
		return true
	}
	providers, err := client.ProvidersOfUser(ctx, f.UserUUID)
	if err != nil {
		f.Orders.Reason = "the user's providers could not be read: " + explain(err, "Get Providers")
		f.Appointments.Reason = f.Orders.Reason
		return false
	}
	if len(providers) == 0 {
		f.NotAProvider = true
		f.Orders.Available, f.Appointments.Available = true, true
		return true
	}
	for _, p := range providers {
		f.Providers = append(f.Providers, p.Display)
	}
	if c.ordersErr != nil {
		f.Orders.Reason = "active orders could not be read: " + explain(c.ordersErr, "Get Orders")
	} else {
		f.Orders.Available = true
		var all []openmrs.Order
		for _, p := range providers {
			all = append(all, c.orders[p.UUID]...)
		}
		slices.SortFunc(all, func(a, b openmrs.Order) int { return a.DateActivated.Compare(b.DateActivated) })
		for _, o := range all {
			if len(f.Orders.Items) == MaxListed {
				f.Orders.More++
				continue
			}
			f.Orders.Items = append(f.Orders.Items, Order{Number: o.OrderNumber, Concept: o.Concept, Type: o.OrderType, Activated: o.DateActivated, Expires: o.AutoExpireDate})
		}
	}
	return r.readAppointments(ctx, client, providers, f) && c.ordersErr == nil
}

// readAppointments lists the providers' future appointments that still need someone:
// neither cancelled, missed nor completed, and not declined or cancelled by that provider.
// It reports whether the result may be cached.
func (r *Reader) readAppointments(ctx context.Context, client OpenMRS, providers []openmrs.Provider, f *Facts) bool {
	now := r.cfg.Now().UTC()
	seen := map[string]bool{}
	var all []openmrs.Appointment
	for _, p := range providers {
		page, err := client.FutureAppointments(ctx, p.UUID, now)
		if errors.Is(err, openmrs.ErrModuleMissing) {
			f.Appointments = Section[Appointment]{Reason: "the appointments module is not installed at this site"}
			return true
		}
		if err != nil {
			f.Appointments = Section[Appointment]{Reason: "appointments could not be read: " + explain(err, "View Appointments")}
			return false
		}
		f.Appointments.Truncated = f.Appointments.Truncated || page.Truncated
		for _, a := range page.Appointments {
			if seen[a.UUID] || a.Start.Before(now) || !needsSomeone(a, p.UUID) {
				continue
			}
			seen[a.UUID] = true
			all = append(all, a)
		}
	}
	f.Appointments.Available = true
	slices.SortFunc(all, func(a, b openmrs.Appointment) int { return a.Start.Compare(b.Start) })
	for _, a := range all {
		if len(f.Appointments.Items) == MaxListed {
			f.Appointments.More++
			continue
		}
		f.Appointments.Items = append(f.Appointments.Items, Appointment{Number: a.Number, Service: a.Service, Location: a.Location, Status: a.Status, Start: a.Start})
	}
	return true
}

func needsSomeone(a openmrs.Appointment, providerUUID string) bool {
	switch a.Status {
	case "Cancelled", "Missed", "Completed":
		return false
	}
	for _, p := range a.Providers {
		if p.UUID == providerUUID && (p.Response == "CANCELLED" || p.Response == "REJECTED") {
			return false
		}
	}
	return true
}

// explain turns an OpenMRS error into a reason an admin can act on.
func explain(err error, privilege string) string {
	var ae *openmrs.APIError
	switch {
	case openmrs.IsForbidden(err):
		return "dormant's OpenMRS account lacks the " + privilege + " privilege"
	case openmrs.IsUnauthorized(err):
		return "OpenMRS did not accept dormant's credentials"
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest && ae.Path == "/order":
		return "this OpenMRS cannot list active orders without a patient (it needs Platform 2.3 or later)"
	default:
		return "OpenMRS could not be read (" + err.Error() + ")"
	}
}
