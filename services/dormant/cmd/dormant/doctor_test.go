package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/platform/infra/infratest"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

// opsWorld is a fake OpenMRS, a NATS subject root and the environment the operator commands
// read, for one test.
type opsWorld struct {
	t    *testing.T
	ctx  context.Context
	fake *openmrstest.Server
	js   jetstream.JetStream
	ns   events.Namespace
}

// newOpsWorld writes a sites file for clinic-a acting as user/password with the given policy
// block (YAML under "policy:", may be empty) and points the environment at it.
func newOpsWorld(t *testing.T, user, password, policyBlock string) *opsWorld {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	js, root := infratest.Bus(t)
	fake := openmrstest.New()
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sites.yaml")
	doc := fmt.Sprintf("sites:\n  - id: clinic-a\n    openmrs_url: %s\n    openmrs_user: %s\n    openmrs_password_env: DORMANT_TEST_OPS_PW\n", fake.URL(), user)
	if policyBlock != "" {
		doc += "    policy:\n" + policyBlock
	}
	if err := os.WriteFile(conf, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DORMANT_TEST_OPS_PW", password)
	t.Setenv("DORMANT_CONFIG", conf)
	t.Setenv("DORMANT_NATS_URL", testenv.NATSURL())
	t.Setenv("DORMANT_SUBJECT_ROOT", root)
	t.Setenv("DORMANT_DATA_DIR", dir)
	t.Setenv("DORMANT_DB", "")
	return &opsWorld{t: t, ctx: ctx, fake: fake, js: js, ns: events.Namespace{Root: root}}
}

// login publishes a successful login on the site's auth subject from source.
func (w *opsWorld) login(source string) {
	w.t.Helper()
	at := time.Now().UTC()
	d := &events.UserSession{Event: events.EventLogin, Status: events.StatusSuccess, UserUUID: w.fake.UserUUID("admin"),
		Username: "admin", OccurredAt: at, Method: events.MethodForm}
	ev, err := events.New(source, "clinic-a", d, uuid.NewString(), at)
	if err != nil {
		w.t.Fatal(err)
	}
	msg, err := events.ToNATS(w.ns.Auth("clinic-a"), ev)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.js.PublishMsg(w.ctx, msg); err != nil {
		w.t.Fatal(err)
	}
}

// line matches one line of doctor's output: level, check name, and a fragment of the detail.
func line(level, name, detail string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(level) + ` +` + regexp.QuoteMeta(name) + ` +.*` + regexp.QuoteMeta(detail))
}

func TestDoctorCommand(t *testing.T) {
	const enabled = "      enabled: true\n      dry_run: false\n"
	cases := []struct {
		name     string
		user     string
		password string
		policy   string
		setup    func(w *opsWorld)
		args     []string
		wantErr  bool
		want     []*regexp.Regexp
	}{
		{
			name: "healthy site", user: "admin", password: "Admin123",
			setup: func(w *opsWorld) { w.login(w.fake.URL()) },
			want: []*regexp.Regexp{
				line("ok", openmrs.CheckReachable, "answers"),
				line("ok", openmrs.CheckCredentials, "logged in as admin"),
				line("ok", openmrs.CheckPrivileges, "super user"),
				line("ok", openmrs.CheckCoreAutoRetire, "not set"),
				line("ok", checkPolicy, "off"),
				line("ok", checkHook, "newest event"),
			},
		},
		{
			name: "wrong password", user: "admin", password: "nope",
			setup:   func(w *opsWorld) { w.login(w.fake.URL()) },
			wantErr: true,
			want:    []*regexp.Regexp{line("FAIL", openmrs.CheckCredentials, `did not accept user "admin"`)},
		},
		{
			name: "acting user lacks Get People", user: "dormant", password: "Secret123",
			setup: func(w *opsWorld) {
				w.fake.AddRole("Dormant", openmrstest.PrivGetUsers, openmrstest.PrivEditUsers, openmrstest.PrivGetGlobalProperties)
				w.fake.AddUser(openmrstest.UserSpec{Username: "dormant", Password: "Secret123", Roles: []string{"Dormant"}})
				w.login(w.fake.URL())
			},
			wantErr: true,
			want:    []*regexp.Regexp{line("FAIL", openmrs.CheckPrivileges, "lacks Get People")},
		},
		{
			name: "the hook never sent anything", user: "admin", password: "Admin123",
			wantErr: true,
			want:    []*regexp.Regexp{line("FAIL", checkHook, "no authentication event")},
		},
		{
			name: "the hook is silent", user: "admin", password: "Admin123",
			setup: func(w *opsWorld) {
				w.login(w.fake.URL())
				time.Sleep(50 * time.Millisecond)
			},
			args:    []string{"--max-silence", "10ms"},
			wantErr: true,
			want:    []*regexp.Regexp{line("FAIL", checkHook, "nothing for longer than 10ms")},
		},
		{
			name: "only the backfill has published", user: "admin", password: "Admin123",
			setup: func(w *opsWorld) { w.login(events.SourceFor("backfill", "clinic-a")) },
			want:  []*regexp.Regexp{line("WARN", checkHook, "came from dormant itself")},
		},
		{
			name: "core's auto-retire task runs while dormant retires", user: "admin", password: "Admin123", policy: enabled,
			setup: func(w *opsWorld) {
				w.fake.SetSystemSetting(openmrs.GPAutoRetireDays, "30")
				w.fake.AddTask(openmrstest.Task{Name: "Auto Retire Users", TaskClass: openmrs.AutoRetireTaskClass, Started: true})
				w.login(w.fake.URL())
			},
			wantErr: true,
			want: []*regexp.Regexp{
				line("FAIL", openmrs.CheckCoreAutoRetire, "is running"),
				line("ok", checkPolicy, "on: retires users inactive for 30 days"),
				line("FAIL", checkBothRetire, "would both retire"),
			},
		},
		{
			name: "core's auto-retire task registered but stopped", user: "admin", password: "Admin123", policy: enabled,
			setup: func(w *opsWorld) {
				w.fake.SetSystemSetting(openmrs.GPAutoRetireDays, "30")
				w.fake.AddTask(openmrstest.Task{Name: "Auto Retire Users", TaskClass: openmrs.AutoRetireTaskClass})
				w.login(w.fake.URL())
			},
			want: []*regexp.Regexp{line("ok", openmrs.CheckCoreAutoRetire, "not started")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newOpsWorld(t, tc.user, tc.password, tc.policy)
			if tc.setup != nil {
				tc.setup(w)
			}
			var out bytes.Buffer
			err := run(w.ctx, append([]string{"doctor"}, tc.args...), &out, &out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("doctor returned %v, want error %v\n%s", err, tc.wantErr, out.String())
			}
			if !strings.HasPrefix(out.String(), "site clinic-a ("+w.fake.URL()+")\n") {
				t.Errorf("output does not start with the site:\n%s", out.String())
			}
			for _, re := range tc.want {
				if !re.MatchString(out.String()) {
					t.Errorf("no line matching %s in\n%s", re, out.String())
				}
			}
			if !tc.wantErr && strings.Contains(out.String(), "FAIL") {
				t.Errorf("a passing doctor printed a failure:\n%s", out.String())
			}
		})
	}
}

func TestDoctorUnknownSite(t *testing.T) {
	w := newOpsWorld(t, "admin", "Admin123", "")
	var out bytes.Buffer
	if err := run(w.ctx, []string{"doctor", "--site", "nowhere"}, &out, &out); err == nil || !strings.Contains(err.Error(), `site "nowhere"`) {
		t.Fatalf("doctor --site nowhere: %v", err)
	}
}
