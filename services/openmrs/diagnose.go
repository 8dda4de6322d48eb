package openmrs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Privileges dormant's acting user needs: reading users for the roster,
// editing them to retire and unretire, reading global properties for the
// dormant.* overrides.
var RequiredPrivileges = []string{"Get Users", "Edit Users", "Get Global Properties"}

// GPAutoRetireDays is core's OpenmrsConstants
// .GP_NUMBER_OF_DAYS_TO_AUTO_RETIRE_USERS (Platform 2.7+), read by
// AutoRetireUsersTask.
const GPAutoRetireDays = "users.numberOfDaysToRetire"

// AutoRetireTaskClass is core's own inactivity task, which retires users
// with no warning, exemption, dry run or guard.
const AutoRetireTaskClass = "org.openmrs.scheduler.tasks.AutoRetireUsersTask"

// Check names in a Report.
const (
	CheckReachable      = "reachable"
	CheckCredentials    = "credentials"
	CheckPrivileges     = "privileges"
	CheckVersion        = "openmrs version"
	CheckCoreAutoRetire = "core auto-retire"
)

// Check is one line of a Report.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Report is what Diagnose found, in the order it checked.
type Report struct {
	Checks []Check
	// Version is the OpenMRS version, or "unknown".
	Version string
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

func (r *Report) add(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// DiagnoseOptions tunes Diagnose.
type DiagnoseOptions struct {
	// Privileges to require of the acting user (default
	// RequiredPrivileges). Add "Manage Alerts" when alerts are on.
	Privileges []string
}

// Diagnose checks a site for `dormant doctor`: that OpenMRS answers, that
// the credentials work, that the acting user holds the privileges dormant
// needs, which OpenMRS version runs, and whether core's own
// AutoRetireUsersTask would retire users alongside dormant. It never
// changes anything on the site. Checks that cannot run because an earlier
// one failed are left out.
func Diagnose(ctx context.Context, c *Client, opts DiagnoseOptions) Report {
	r := Report{Version: "unknown"}
	privs := opts.Privileges
	if len(privs) == 0 {
		privs = RequiredPrivileges
	}

	s, err := c.Session(ctx)
	var ae *APIError
	switch {
	case errors.Is(err, ErrUnauthenticated):
		r.add(CheckReachable, true, "%s answers", c.BaseURL())
		r.add(CheckCredentials, false, "OpenMRS did not accept user %q and its password", c.cfg.Username)
		return r
	case errors.As(err, &ae):
		// An HTTP answer, but not the session resource: wrong base URL,
		// REST module missing, proxy trouble.
		r.add(CheckReachable, false, "%s answers, but GET %s/session gave %d %s: is BaseURL the OpenMRS web application and the REST module installed?", c.BaseURL(), RESTRoot, ae.Status, ae.Message)
		return r
	case err != nil:
		r.add(CheckReachable, false, "%s: %v", c.BaseURL(), err)
		return r
	}
	r.add(CheckReachable, true, "%s answers", c.BaseURL())
	r.add(CheckCredentials, true, "logged in as %s (%s)", s.User.Username, s.User.UUID)

	var missing []string
	for _, p := range privs {
		if !s.HasPrivilege(p) {
			missing = append(missing, p)
		}
	}
	switch {
	case len(missing) > 0:
		r.add(CheckPrivileges, false, "user %s lacks %s", s.User.Username, strings.Join(missing, ", "))
	case s.User.HasRole(SuperUserRole):
		r.add(CheckPrivileges, true, "user %s is a super user (%s)", s.User.Username, SuperUserRole)
	default:
		r.add(CheckPrivileges, true, "user %s holds %s", s.User.Username, strings.Join(privs, ", "))
	}

	r.Version = version(ctx, c)
	if r.Version == "unknown" {
		r.add(CheckVersion, true, "unknown: GET /systeminformation needs the View Administration Functions privilege")
	} else {
		r.add(CheckVersion, true, "%s", r.Version)
	}

	autoRetire(ctx, c, &r)
	return r
}

// version reads the version SystemInformationResource1_8 exposes, or
// "unknown" when the acting user may not read it.
func version(ctx context.Context, c *Client) string {
	var w struct {
		SystemInfo map[string]map[string]string `json:"systemInfo"`
	}
	if err := c.getJSON(ctx, "/systeminformation", nil, &w); err != nil {
		return "unknown"
	}
	if v := w.SystemInfo["SystemInfo.title.openmrsInformation"]["SystemInfo.OpenMRSInstallation.openmrsVersion"]; v != "" {
		return v
	}
	return "unknown"
}

// autoRetire reports whether core's AutoRetireUsersTask would retire
// users. The task retires whenever the global property is not blank (even
// 0, which retires every non-super user), but only if an admin scheduled
// it: core registers no task definition for it.
func autoRetire(ctx context.Context, c *Client, r *Report) {
	gps, err := c.SystemSettings(ctx, GPAutoRetireDays)
	if err != nil {
		r.add(CheckCoreAutoRetire, false, "could not read global property %s: %v", GPAutoRetireDays, err)
		return
	}
	days := strings.TrimSpace(gps[GPAutoRetireDays])
	if days == "" {
		r.add(CheckCoreAutoRetire, true, "%s is not set: core's AutoRetireUsersTask retires nobody", GPAutoRetireDays)
		return
	}
	n, convErr := strconv.ParseInt(days, 10, 64)
	if convErr != nil {
		r.add(CheckCoreAutoRetire, true, "%s is %q, not a number: core's AutoRetireUsersTask fails on it and retires nobody", GPAutoRetireDays, days)
		return
	}
	var tasks wireList[struct {
		Name      string `json:"name"`
		TaskClass string `json:"taskClass"`
		Started   bool   `json:"started"`
	}]
	err = c.getJSON(ctx, "/taskdefinition", url.Values{"v": {"default"}, "limit": {strconv.Itoa(MaxPageSize)}}, &tasks)
	if err != nil {
		r.add(CheckCoreAutoRetire, false, "%s is %d days, so core's AutoRetireUsersTask retires users inactive that long with no warning or exemption if it is scheduled; could not read the scheduler (%v; needs Manage Scheduler). Unset %s or check Admin > Scheduler", GPAutoRetireDays, n, err, GPAutoRetireDays)
		return
	}
	for _, t := range tasks.Results {
		if t.TaskClass != AutoRetireTaskClass {
			continue
		}
		if t.Started {
			r.add(CheckCoreAutoRetire, false, "core's AutoRetireUsersTask (task %q) is running with %s = %d days: it retires users alongside dormant with no warning or exemption; stop the task or unset %s", t.Name, GPAutoRetireDays, n, GPAutoRetireDays)
			return
		}
		r.add(CheckCoreAutoRetire, true, "%s = %d days, task %q is registered but not started", GPAutoRetireDays, n, t.Name)
		return
	}
	r.add(CheckCoreAutoRetire, true, "%s = %d days but AutoRetireUsersTask is not scheduled", GPAutoRetireDays, n)
}
