package openmrs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
)

// site starts a fake with an acting user "dormant" holding what dormant
// needs, and a client logged in as that user.
func site(t *testing.T, mod ...func(*openmrs.Config)) (*openmrstest.Server, *openmrs.Client) {
	t.Helper()
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivEditUsers, openmrstest.PrivGetGlobalProperties,
		openmrstest.PrivManageAlerts, openmrstest.PrivGetRoles, openmrstest.PrivGetPeople)
	fake.AddUser(openmrstest.UserSpec{Username: "dormant", Password: "s3cret", GivenName: "Dormant", FamilyName: "Daemon", Roles: []string{"Dormant"}})
	cfg := openmrs.Config{BaseURL: fake.URL(), Username: "dormant", Password: "s3cret", BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := openmrs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

func TestConfigIsValidatedAndDefaulted(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  openmrs.Config
		ok   bool
	}{
		{"base URL is required", openmrs.Config{Username: "a", Password: "b"}, false},
		{"base URL must be absolute http", openmrs.Config{BaseURL: "openmrs.local/openmrs", Username: "a", Password: "b"}, false},
		{"credentials never ride in the URL", openmrs.Config{BaseURL: "http://a:b@h/openmrs", Username: "a", Password: "b"}, false},
		{"username is required", openmrs.Config{BaseURL: "http://h/openmrs", Password: "b"}, false},
		{"username must not hold a colon", openmrs.Config{BaseURL: "http://h/openmrs", Username: "a:x", Password: "b"}, false},
		{"password is required", openmrs.Config{BaseURL: "http://h/openmrs", Username: "a"}, false},
		{"max backoff not below base", openmrs.Config{BaseURL: "http://h/openmrs", Username: "a", Password: "b", BaseBackoff: time.Second, MaxBackoff: time.Millisecond}, false},
		{"negative Retry-After ceiling", openmrs.Config{BaseURL: "http://h/openmrs", Username: "a", Password: "b", MaxRetryAfter: -time.Second}, false},
		{"minimal config gets defaults", openmrs.Config{BaseURL: "https://h/openmrs/", Username: "a", Password: "b"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := openmrs.New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New: err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && c.BaseURL() != "https://h/openmrs" {
				t.Fatalf("BaseURL = %q, want trailing slash trimmed", c.BaseURL())
			}
		})
	}
}

func TestTimeParsesOpenMRSAndRFC3339(t *testing.T) {
	want := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	for _, in := range []string{"2026-11-23T04:00:00.000+0000", "2026-11-23T06:00:00.000+0200", "2026-11-23T04:00:00Z", "2026-11-23T05:00:00+01:00", "2026-11-23T04:00:00.000"} {
		got, err := openmrs.ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if s := openmrs.FormatTime(want); s != "2026-11-23T04:00:00.000+0000" {
		t.Errorf("FormatTime = %q", s)
	}
	if _, err := openmrs.ParseTime("23/11/2026"); err == nil {
		t.Error("ParseTime accepted a date in no known format")
	}
}

func TestPagingVisitsEveryUserOnceAndResumesFromAnIndex(t *testing.T) {
	fake, c := site(t)
	for i := range 5000 {
		fake.AddUser(openmrstest.UserSpec{Username: fmt.Sprintf("u%05d", i), Password: "x"})
	}
	const total = 5002 // admin and dormant too
	ctx := context.Background()

	seen := map[string]int{}
	last := -1
	err := c.EachUser(ctx, 100, 0, func(u openmrs.User, i int) error {
		seen[u.UUID]++
		if i != last+1 {
			return fmt.Errorf("index %d after %d", i, last)
		}
		last = i
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != total || last != total-1 {
		t.Fatalf("saw %d users, last index %d; want %d", len(seen), last, total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("user %s seen %d times", id, n)
		}
	}
	if got := fake.Requests()["GET /user"]; got != 51 {
		t.Errorf("GET /user requests = %d, want 51 pages of 100", got)
	}

	// A caller that stopped after index 2999 resumes from 3000 and sees
	// exactly the rest, in order.
	var resumed []int
	stop := errors.New("stop")
	err = c.EachUser(ctx, 100, 3000, func(u openmrs.User, i int) error {
		resumed = append(resumed, i)
		if i == 4500 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("EachUser returned %v, want the callback's error", err)
	}
	if resumed[0] != 3000 || len(resumed) != 1501 {
		t.Fatalf("resumed at %d with %d users, want 3000 and 1501", resumed[0], len(resumed))
	}
}

func TestPageSizeAdaptsToTheSitesAbsoluteLimit(t *testing.T) {
	fake, c := site(t)
	fake.SetMaxResults(20)
	for i := range 55 {
		fake.AddUser(openmrstest.UserSpec{Username: fmt.Sprintf("u%d", i)})
	}
	n := 0
	if err := c.EachUser(context.Background(), 100, 0, func(openmrs.User, int) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 57 {
		t.Fatalf("listed %d users, want 57", n)
	}
	// One refused page of 100, then pages of 20: the refusal is not retried.
	if got := fake.Requests()["GET /user"]; got != 1+3 {
		t.Errorf("GET /user requests = %d, want 4", got)
	}
}

func TestUserDecodesTheFullRepresentation(t *testing.T) {
	fake, c := site(t)
	created := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	id := fake.AddUser(openmrstest.UserSpec{Username: "nurse1", GivenName: "Ann", FamilyName: "Test Account", Email: "ann@example.org",
		SystemID: "42-7", Roles: []string{"Nurse"}, Created: created, Properties: map[string]string{"lastLoginTimestamp": "1700000000123"}})
	u, err := c.User(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if u.UUID != id || u.Username != "nurse1" || u.SystemID != "42-7" || u.Email != "ann@example.org" || u.Display != "nurse1" || u.Retired {
		t.Errorf("user = %+v", u)
	}
	if !u.DateCreated.Equal(created) {
		t.Errorf("DateCreated = %v, want %v", u.DateCreated, created)
	}
	if u.Person.Display != "Ann Test Account" || u.Person.UUID == "" {
		t.Errorf("person = %+v", u.Person)
	}
	if !u.HasRole("Nurse") || len(u.Roles) != 1 || u.Roles[0].Name != "Nurse" {
		t.Errorf("roles = %+v", u.Roles)
	}
	last, ok := u.LastLoginTimestamp()
	if !ok || last.UnixMilli() != 1700000000123 {
		t.Errorf("LastLoginTimestamp = %v, %v", last, ok)
	}
	p, err := c.Person(context.Background(), u.Person.UUID)
	if err != nil || p.GivenName != "Ann" || p.FamilyName != "Test Account" {
		t.Errorf("Person = %+v, %v", p, err)
	}
}

func TestLastLoginTimestampRule(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"epoch milliseconds are a login", "1700000000000", true},
		{"absent is no login", "", false},
		{"garbage is no login", "yesterday", false},
		{"zero is no login", "0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := openmrs.User{UserProperties: map[string]string{}}
			if tc.value != "" {
				u.UserProperties[openmrs.UserPropertyLastLogin] = tc.value
			}
			if _, ok := u.LastLoginTimestamp(); ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
		})
	}
}

func TestBadPasswordIsAClearError(t *testing.T) {
	fake, c := site(t, func(c *openmrs.Config) { c.Password = "wrong" })
	ctx := context.Background()
	_, err := c.Session(ctx)
	if !errors.Is(err, openmrs.ErrUnauthenticated) || !openmrs.IsUnauthorized(err) {
		t.Fatalf("Session: %v, want ErrUnauthenticated", err)
	}
	_, err = c.Users(ctx, 0, 10)
	var ae *openmrs.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(ae.Message, "User is not logged in") {
		t.Fatalf("Users: %v, want 401 from OpenMRS", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error leaks the password: %v", err)
	}
	// Two calls, each logging in at most twice (once more after the 401).
	if n := fake.BasicAuthCount(); n > 3 {
		t.Errorf("basic auth attempts = %d, want no retry storm", n)
	}
}

func TestServerErrorsAreRetriedThenSucceed(t *testing.T) {
	for _, status := range []int{500, 502, 503} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			fake, c := site(t)
			fake.FailNext(2, status)
			if _, err := c.Users(context.Background(), 0, 10); err != nil {
				t.Fatalf("Users after 2 x %d: %v", status, err)
			}
			if got := fake.Requests()["GET /user"]; got != 3 {
				t.Errorf("requests = %d, want 3", got)
			}
		})
	}
}

func TestRetriesStopAtMaxRetries(t *testing.T) {
	fake, c := site(t, func(c *openmrs.Config) { c.MaxRetries = 2 })
	fake.FailNext(10, 503)
	_, err := c.Users(context.Background(), 0, 10)
	if statusOf(err) != 503 || !openmrs.Retryable(err) {
		t.Fatalf("err = %v, want a retryable 503", err)
	}
	if got := fake.Requests()["GET /user"]; got != 3 {
		t.Errorf("requests = %d, want 1 + 2 retries", got)
	}
}

func statusOf(err error) int {
	var ae *openmrs.APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func TestClientErrorsAreNotRetriedAndCarryOpenMRSsMessage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		setup  func(*openmrstest.Server) string // returns the uuid to get
		is     func(error) bool
		msg    string
	}{
		{"unknown uuid is 404", 404, func(*openmrstest.Server) string { return "0b5e1b2c-0000-4000-8000-000000000000" }, openmrs.IsNotFound, "Object with given uuid doesn't exist"},
		{"missing privilege is 403", 403, func(f *openmrstest.Server) string {
			f.SetPrivileges("Dormant", openmrstest.PrivEditUsers)
			return f.UserUUID("admin")
		}, openmrs.IsForbidden, "Privileges required: Get Users"},
		{"bad request is 400", 400, func(f *openmrstest.Server) string {
			f.InjectFault(openmrstest.Fault{Method: "GET", PathPrefix: "/user/", Count: 1, Status: 400})
			return f.UserUUID("admin")
		}, func(err error) bool { return statusOf(err) == 400 }, "injected fault 400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, c := site(t)
			id := tc.setup(fake)
			_, err := c.User(context.Background(), id)
			if !tc.is(err) || openmrs.Retryable(err) {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "GET /user/") {
				t.Errorf("error %q lacks OpenMRS's message %q or the request", err, tc.msg)
			}
			if got := fake.Requests()["GET /user/{uuid}"]; got != 1 {
				t.Errorf("requests = %d, want 1 (no retry)", got)
			}
		})
	}
}

func TestTooManyRequestsHonoursRetryAfter(t *testing.T) {
	fake, c := site(t)
	fake.InjectFault(openmrstest.Fault{Count: 1, Status: 429, RetryAfter: "1"})
	start := time.Now()
	if _, err := c.Users(context.Background(), 0, 10); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("retried after %v; Retry-After asked for 1s (backoff alone is ≤5ms)", d)
	}
}

// TestRetryAfterHasACeiling: a Retry-After within MaxRetryAfter is waited out, in either of
// its forms; one beyond it, or one so large it would overflow a Duration, fails the call at
// once with a retryable error naming the ceiling, after a single request.
func TestRetryAfterHasACeiling(t *testing.T) {
	// HTTP dates have whole seconds: "in two seconds" waits one to two, "in five" four to five.
	inTwoSeconds := func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }
	inFiveSeconds := func() string { return time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat) }
	for _, tc := range []struct {
		name       string
		retryAfter func() string
		ceiling    time.Duration
		waited     bool // the call waits and succeeds on the second request
		minWait    time.Duration
	}{
		{"seconds within the ceiling are waited out", func() string { return "1" }, 2 * time.Second, true, time.Second},
		{"seconds equal to the ceiling are waited out", func() string { return "1" }, time.Second, true, time.Second},
		{"an HTTP date within the ceiling is waited out", inTwoSeconds, 3 * time.Second, true, 500 * time.Millisecond},
		{"seconds beyond the ceiling fail at once", func() string { return "2" }, time.Second, false, 0},
		{"the default ceiling refuses an hour", func() string { return "3600" }, 0, false, 0},
		{"an HTTP date beyond the ceiling fails at once", inFiveSeconds, 2 * time.Second, false, 0},
		{"an HTTP date years ahead fails at once", func() string { return "Fri, 01 Jan 2100 00:00:00 GMT" }, 0, false, 0},
		{"a Duration-overflowing hint fails at once", func() string { return "99999999999999999" }, 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, c := site(t, func(c *openmrs.Config) { c.MaxRetryAfter = tc.ceiling })
			fake.InjectFault(openmrstest.Fault{Count: 1, Status: 503, RetryAfter: tc.retryAfter()})
			start := time.Now()
			_, err := c.Users(context.Background(), 0, 10)
			took := time.Since(start)
			requests := fake.Requests()["GET /user"]
			if tc.waited {
				if err != nil {
					t.Fatalf("err = %v; the hint was within the ceiling", err)
				}
				if took < tc.minWait || requests != 2 {
					t.Fatalf("took %v with %d requests; want at least %v and 2", took, requests, tc.minWait)
				}
				return
			}
			if err == nil || !openmrs.Retryable(err) || !strings.Contains(err.Error(), "MaxRetryAfter") {
				t.Fatalf("err = %v; want a retryable error naming MaxRetryAfter", err)
			}
			var ae *openmrs.APIError
			if !errors.As(err, &ae) || ae.Status != 503 || ae.RetryAfter <= 0 {
				t.Fatalf("err = %#v; want the server's 503 with its hint kept for the caller", err)
			}
			// Every hint in these cases is two seconds or more: a client that slept on one
			// would take at least that. A second is ample for one local request even on a
			// loaded CI machine (500ms was too tight there), and still tells the two apart.
			if took >= time.Second || requests != 1 {
				t.Fatalf("took %v with %d requests; want an immediate failure after one request", took, requests)
			}
		})
	}
}

func TestNetworkErrorsAndTimeoutsAreRetried(t *testing.T) {
	t.Run("dropped connection", func(t *testing.T) {
		fake, c := site(t)
		fake.DropNext(2)
		if _, err := c.Users(context.Background(), 0, 10); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("slow answer times out and keeps failing", func(t *testing.T) {
		// The answer would take far longer than the timeout, so the bound below can be
		// generous (a loaded CI machine once took 251ms against a 250ms bound) and still
		// fail when an attempt waits for the answer instead of giving up at the timeout.
		const latency = 10 * time.Second
		fake, c := site(t, func(c *openmrs.Config) { c.Timeout = 50 * time.Millisecond; c.MaxRetries = 1 })
		fake.SetLatency(latency)
		before := fake.Requests()["GET /user"]
		start := time.Now()
		_, err := c.Users(context.Background(), 0, 10)
		if !errors.Is(err, context.DeadlineExceeded) || !openmrs.Retryable(err) {
			t.Fatalf("err = %v, want a retryable timeout", err)
		}
		if d := time.Since(start); d >= latency/2 {
			t.Errorf("took %v; each attempt should stop at the 50ms timeout, not wait for the %v answer", d, latency)
		}
		// Both attempts were made: the first timeout was retried, the second was final.
		if n := fake.Requests()["GET /user"] - before; n != 2 {
			t.Errorf("%d user list requests reached OpenMRS, want 2 (MaxRetries 1)", n)
		}
	})
	t.Run("caller's cancellation is final", func(t *testing.T) {
		fake, c := site(t)
		// Far beyond the cancellation, so a loaded machine cannot let the answer win the race.
		fake.SetLatency(10 * time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := c.Users(ctx, 0, 10)
		if !errors.Is(err, context.Canceled) || openmrs.Retryable(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRetireIsIdempotentAndNeverPurges(t *testing.T) {
	fake, c := site(t)
	id := fake.AddUser(openmrstest.UserSpec{Username: "gone"})
	ctx := context.Background()
	if err := c.RetireUser(ctx, id, "inactive for 90 days"); err != nil {
		t.Fatal(err)
	}
	first, _ := fake.User(id)
	if err := c.RetireUser(ctx, id, "a later, different reason"); err != nil {
		t.Fatalf("second retire: %v", err)
	}
	u, _ := fake.User(id)
	if !u.Retired || u.RetireReason != "inactive for 90 days" || !u.DateRetired.Equal(first.DateRetired) {
		t.Errorf("after two retires: retired=%v reason=%q date=%v; the first retirement must stand", u.Retired, u.RetireReason, u.DateRetired)
	}
	if u.RetiredBy != fake.UserUUID("dormant") {
		t.Errorf("retiredBy = %q", u.RetiredBy)
	}
	rs := fake.Retirements()
	if len(rs) != 1 || rs[0].Action != "retire" {
		t.Fatalf("retirements = %+v, want exactly one retire", rs)
	}
	for _, r := range rs {
		if r.Action == "purge" {
			t.Fatal("the client purged a user")
		}
	}
	if err := c.RetireUser(ctx, "0b5e1b2c-0000-4000-8000-000000000000", "x"); !openmrs.IsNotFound(err) {
		t.Errorf("retire unknown: %v, want not found", err)
	}
	if err := c.RetireUser(ctx, id, ""); err == nil {
		t.Error("retire without a reason succeeded")
	}
}

func TestUnretireRestoresTheUser(t *testing.T) {
	fake, c := site(t)
	id := fake.AddUser(openmrstest.UserSpec{Username: "back", Retired: true, RetireReason: "inactive"})
	ctx := context.Background()
	if err := c.UnretireUser(ctx, id); err != nil {
		t.Fatal(err)
	}
	u, _ := fake.User(id)
	if u.Retired || u.RetireReason != "" || u.RetiredBy != "" || !u.DateRetired.IsZero() {
		t.Fatalf("after unretire: %+v", u)
	}
	if err := c.UnretireUser(ctx, id); err != nil {
		t.Fatalf("unretire an active user: %v", err)
	}
	got, err := c.User(ctx, id)
	if err != nil || got.Retired {
		t.Fatalf("User after unretire: %+v, %v", got, err)
	}
}

func TestUnretireNeedsEditUsers(t *testing.T) {
	fake, c := site(t)
	id := fake.AddUser(openmrstest.UserSpec{Username: "back", Retired: true})
	fake.SetPrivileges("Dormant", openmrstest.PrivGetUsers)
	if err := c.UnretireUser(context.Background(), id); !openmrs.IsForbidden(err) {
		t.Fatalf("err = %v, want 403", err)
	}
	if u, _ := fake.User(id); !u.Retired {
		t.Fatal("user unretired without Edit Users")
	}
}

func TestOneLoginServesManyCallsAndExpiredSessionsLogInAgain(t *testing.T) {
	fake, c := site(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				if _, err := c.Users(ctx, 0, 5); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := fake.BasicAuthCount(); n != 1 {
		t.Fatalf("basic-auth logins for 80 concurrent calls = %d, want 1", n)
	}
	fake.ExpireSessions()
	for range 5 {
		if _, err := c.Users(ctx, 0, 5); err != nil {
			t.Fatalf("after session expiry: %v", err)
		}
	}
	if n := fake.BasicAuthCount(); n != 2 {
		t.Fatalf("logins after expiry = %d, want 2", n)
	}
}

func TestCheckCredentialsLeavesTheClientsSessionAlone(t *testing.T) {
	fake, c := site(t)
	ctx := context.Background()
	fake.AddUser(openmrstest.UserSpec{Username: "clerk", Password: "pw", Roles: []string{"Clerk"}})
	fake.SetPrivileges("Clerk", openmrstest.PrivGetUsers)
	if _, err := c.Session(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, pass string
		ok               bool
		editUsers        bool
	}{
		{"right password signs in", "clerk", "pw", true, false},
		{"wrong password is refused", "clerk", "nope", false, false},
		{"super user holds every privilege", "admin", "Admin123", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := c.CheckCredentials(ctx, tc.user, tc.pass)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if !tc.ok && !errors.Is(err, openmrs.ErrUnauthenticated) {
				t.Fatalf("err = %v, want ErrUnauthenticated", err)
			}
			if tc.ok && (s.User.Username != tc.user || s.HasPrivilege("Edit Users") != tc.editUsers || !s.HasPrivilege("Get Users")) {
				t.Fatalf("session = %+v", s)
			}
		})
	}
	s, err := c.Session(ctx)
	if err != nil || s.User.Username != "dormant" {
		t.Fatalf("client's own session after checks: %+v, %v", s.User.Username, err)
	}
	// The client itself logged in once; the three checks once each.
	if n := fake.BasicAuthCount(); n != 4 {
		t.Errorf("logins = %d, want 4", n)
	}
}

func TestSystemSettingsFollowPaging(t *testing.T) {
	fake, c := site(t)
	for i := range 250 {
		fake.SetSystemSetting(fmt.Sprintf("dormant.rule%03d", i), strconv.Itoa(i))
	}
	fake.SetSystemSetting("dormant.empty", "")
	fake.SetSystemSetting("other.setting", "x")
	got, err := c.SystemSettings(context.Background(), "dormant")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 251 || got["dormant.rule249"] != "249" || got["dormant.empty"] != "" {
		t.Fatalf("got %d settings", len(got))
	}
	if _, ok := got["other.setting"]; ok {
		t.Error("prefix not applied")
	}
	if n := fake.Requests()["GET /systemsetting"]; n != 3 {
		t.Errorf("requests = %d, want 3 pages", n)
	}
}

func TestRolesAreListed(t *testing.T) {
	fake, c := site(t)
	fake.AddRole("Nurse")
	roles, err := c.Roles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range roles {
		names[r.Name] = r.UUID != ""
	}
	if !names["Nurse"] || !names["System Developer"] || !names["Dormant"] {
		t.Fatalf("roles = %+v", roles)
	}
}

func TestCreateAlert(t *testing.T) {
	fake, c := site(t)
	id := fake.AddUser(openmrstest.UserSpec{Username: "nurse"})
	exp := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	err := c.CreateAlert(context.Background(), openmrs.Alert{Text: "Your account retires in 7 days", Recipients: []string{id}, SatisfiedByAny: true, DateToExpire: exp})
	if err != nil {
		t.Fatal(err)
	}
	as := fake.Alerts()
	if len(as) != 1 || as[0].Recipients[0] != id || !as[0].SatisfiedByAny || !as[0].DateToExpire.Equal(exp) || as[0].Text != "Your account retires in 7 days" {
		t.Fatalf("alerts = %+v", as)
	}
	if err := c.CreateAlert(context.Background(), openmrs.Alert{Text: "x", Recipients: []string{"0b5e1b2c-0000-4000-8000-000000000000"}}); statusOf(err) != 400 {
		t.Errorf("unknown recipient: %v, want 400", err)
	}
}

func TestDiagnose(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(*openmrstest.Server, *openmrs.Config)
		ok      bool
		failing string
		detail  string
	}{
		{"well configured site passes", func(*openmrstest.Server, *openmrs.Config) {}, true, "", ""},
		{"wrong password fails credentials", func(_ *openmrstest.Server, c *openmrs.Config) { c.Password = "bad" }, false, openmrs.CheckCredentials, "did not accept"},
		{"unreachable site fails reachability", func(_ *openmrstest.Server, c *openmrs.Config) {
			c.BaseURL = "http://127.0.0.1:1/openmrs"
			c.MaxRetries = -1
		}, false, openmrs.CheckReachable, "127.0.0.1:1"},
		{"missing privilege is named", func(f *openmrstest.Server, _ *openmrs.Config) {
			f.SetPrivileges("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivGetGlobalProperties)
		}, false, openmrs.CheckPrivileges, "lacks Edit Users"},
		{"core auto-retire running alongside is flagged", func(f *openmrstest.Server, c *openmrs.Config) {
			c.Username, c.Password = "admin", "Admin123"
			f.SetSystemSetting(openmrs.GPAutoRetireDays, "90")
			f.AddTask(openmrstest.Task{Name: "Auto retire users", TaskClass: openmrs.AutoRetireTaskClass, Started: true})
		}, false, openmrs.CheckCoreAutoRetire, "is running with users.numberOfDaysToRetire = 90"},
		{"auto-retire set but unscheduled is fine", func(f *openmrstest.Server, c *openmrs.Config) {
			c.Username, c.Password = "admin", "Admin123"
			f.SetSystemSetting(openmrs.GPAutoRetireDays, "90")
		}, true, "", ""},
		{"auto-retire set and scheduler unreadable warns", func(f *openmrstest.Server, _ *openmrs.Config) {
			f.SetSystemSetting(openmrs.GPAutoRetireDays, "30")
		}, false, openmrs.CheckCoreAutoRetire, "needs Manage Scheduler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, _ := site(t)
			cfg := openmrs.Config{BaseURL: fake.URL(), Username: "dormant", Password: "s3cret", BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
			tc.setup(fake, &cfg)
			c, err := openmrs.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := openmrs.Diagnose(context.Background(), c, openmrs.DiagnoseOptions{})
			if r.OK() != tc.ok {
				t.Fatalf("OK = %v, report %+v", r.OK(), r.Checks)
			}
			if tc.failing == "" {
				return
			}
			for _, ch := range r.Checks {
				if ch.Name == tc.failing {
					if ch.OK || !strings.Contains(ch.Detail, tc.detail) {
						t.Fatalf("check %s = %+v, want failing with %q", ch.Name, ch, tc.detail)
					}
					return
				}
			}
			t.Fatalf("no %s check in %+v", tc.failing, r.Checks)
		})
	}
}

func TestDiagnoseReportsTheVersionWhenReadable(t *testing.T) {
	fake, _ := site(t)
	c, err := openmrs.New(openmrs.Config{BaseURL: fake.URL(), Username: "admin", Password: "Admin123"})
	if err != nil {
		t.Fatal(err)
	}
	if r := openmrs.Diagnose(context.Background(), c, openmrs.DiagnoseOptions{}); !strings.HasPrefix(r.Version, "2.7.4") {
		t.Fatalf("version = %q", r.Version)
	}
	_, c2 := site(t)
	if r := openmrs.Diagnose(context.Background(), c2, openmrs.DiagnoseOptions{}); r.Version != "unknown" {
		t.Fatalf("version without View Administration Functions = %q", r.Version)
	}
}

// TestRosterListingThroughput lists a 100k-user roster. Opt in with
// DORMANT_BENCH=1; it prints users/s.
func TestRosterListingThroughput(t *testing.T) {
	if os.Getenv("DORMANT_BENCH") != "1" {
		t.Skip("set DORMANT_BENCH=1 to list a 100k-user roster")
	}
	fake, c := site(t)
	seed := time.Now()
	for i := range 100_000 {
		fake.AddUser(openmrstest.UserSpec{Username: fmt.Sprintf("user%06d", i), GivenName: "G", FamilyName: "F", Roles: []string{"Nurse"},
			Properties: map[string]string{"lastLoginTimestamp": "1700000000000"}})
	}
	seeded := time.Since(seed)
	start := time.Now()
	n := 0
	if err := c.EachUser(context.Background(), 100, 0, func(openmrs.User, int) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("seeded 100k users in %v; listed %d users in %v = %.0f users/s (%d pages, %d logins)",
		seeded, n, d, float64(n)/d.Seconds(), fake.Requests()["GET /user"], fake.BasicAuthCount())
}
