package infra_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

func sitesFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sites.yaml")
	if err := os.WriteFile(p, []byte("sites: [{id: clinic-a}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func bus() infra.BusOptions {
	return infra.BusOptions{SubjectRoot: "dormant", StreamReplicas: 1, DuplicateWindow: time.Minute}
}

func TestOpenEmbeddedProvisionsEveryStream(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	in, err := infra.Open(ctx, infra.Config{
		Name: "test", AllowEmbedded: true, DataDir: dir, ConfigFile: sitesFile(t),
		HTTPAddr: "127.0.0.1:0", LogLevel: "error", Bus: bus(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if in.DB.Engine() != sqldb.SQLite || !strings.HasPrefix(in.DB.Describe(), "sqlite "+dir) {
		t.Fatalf("database %s, want SQLite under %s", in.DB.Describe(), dir)
	}
	for _, s := range bus().Namespace().Streams() {
		if _, err := in.JS.Stream(ctx, s.Name); err != nil {
			t.Errorf("stream %s not provisioned: %v", s.Name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nats")); err != nil {
		t.Fatalf("JetStream store not under the data folder: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     infra.Config
		wantErr string
	}{
		{"a service without a NATS URL is refused", infra.Config{ConfigFile: "x", Bus: bus()}, "DORMANT_NATS_URL"},
		{"the sites file is required", infra.Config{AllowEmbedded: true, Bus: bus()}, "DORMANT_CONFIG"},
		{"a subject root with a dot is refused", infra.Config{AllowEmbedded: true, ConfigFile: "x",
			Bus: infra.BusOptions{SubjectRoot: "a.b", StreamReplicas: 1, DuplicateWindow: time.Minute}}, "DORMANT_SUBJECT_ROOT"},
		{"replicas above five are refused", infra.Config{AllowEmbedded: true, ConfigFile: "x",
			Bus: infra.BusOptions{SubjectRoot: "dormant", StreamReplicas: 7, DuplicateWindow: time.Minute}}, "DORMANT_STREAM_REPLICAS"},
		{"a zero duplicate window is refused", infra.Config{AllowEmbedded: true, ConfigFile: "x",
			Bus: infra.BusOptions{SubjectRoot: "dormant", StreamReplicas: 1}}, "DORMANT_DUPLICATE_WINDOW"},
		{"a negative global retention is refused", infra.Config{AllowEmbedded: true, ConfigFile: "x",
			Bus: infra.BusOptions{SubjectRoot: "dormant", StreamReplicas: 1, DuplicateWindow: time.Minute, StreamMaxAge: -time.Hour}}, "DORMANT_STREAM_MAX_AGE -1h0m0s"},
		{"a negative auth retention is refused", infra.Config{AllowEmbedded: true, ConfigFile: "x",
			Bus: infra.BusOptions{SubjectRoot: "dormant", StreamReplicas: 1, DuplicateWindow: time.Minute, AuthMaxAge: ptr(-time.Hour)}}, "DORMANT_STREAM_MAX_AGE_AUTH"},
		{"a negative DLQ retention is refused", infra.Config{AllowEmbedded: true, ConfigFile: "x",
			Bus: infra.BusOptions{SubjectRoot: "dormant", StreamReplicas: 1, DuplicateWindow: time.Minute, DLQMaxAge: ptr(-time.Second)}}, "DORMANT_STREAM_MAX_AGE_DLQ"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to name %s", err, tc.wantErr)
			}
		})
	}
}

func TestOpenFailsClearlyOnABadSitesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sites.yaml")
	if err := os.WriteFile(p, []byte("sites: [{id: Bad}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := infra.Open(context.Background(), infra.Config{AllowEmbedded: true, DataDir: t.TempDir(), ConfigFile: p, LogLevel: "error", Bus: bus()})
	if err == nil || !strings.Contains(err.Error(), `sites[0].id "Bad"`) {
		t.Fatalf("err = %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestPerStreamRetentionIsAppliedToExistingStreams: provisioning is how a changed retention
// reaches streams that already exist, so each start of a service must update them, again and
// again without error, and an override removed must give the stream the global age back.
func TestPerStreamRetentionIsAppliedToExistingStreams(t *testing.T) {
	nc, root := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const global, week = 720 * time.Hour, 168 * time.Hour
	b := infra.BusOptions{SubjectRoot: root, StreamReplicas: 1, DuplicateWindow: time.Minute, StreamMaxAge: global}
	ns := b.Namespace()
	ages := func() map[string]time.Duration {
		t.Helper()
		out := map[string]time.Duration{}
		for _, s := range ns.Streams() {
			st, err := js.Stream(ctx, s.Name)
			if err != nil {
				t.Fatalf("stream %s: %v", s.Name, err)
			}
			out[s.Name] = st.CachedInfo().Config.MaxAge
		}
		return out
	}
	expect := func(step string, want map[string]time.Duration) {
		t.Helper()
		got := ages()
		for _, s := range ns.Streams() {
			w, ok := want[s.Name]
			if !ok {
				w = global
			}
			if got[s.Name] != w {
				t.Errorf("%s: stream %s keeps %s, want %s", step, s.Name, got[s.Name], w)
			}
		}
	}

	if err := infra.Provision(ctx, js, b); err != nil {
		t.Fatal(err)
	}
	expect("created", nil)

	// The national-scale shape: busy streams a week, decisions and actions kept for ever.
	b.AuthMaxAge, b.RecordsMaxAge, b.DecisionsMaxAge, b.ActionsMaxAge = ptr(week), ptr(week), ptr(time.Duration(0)), ptr(time.Duration(0))
	for i := 1; i <= 2; i++ {
		if err := infra.Provision(ctx, js, b); err != nil {
			t.Fatalf("provision #%d with per-stream ages: %v", i, err)
		}
		expect("per-stream ages", map[string]time.Duration{ns.StreamAuth(): week, ns.StreamRecords(): week, ns.StreamDecisions(): 0, ns.StreamActions(): 0})
	}
	// The duplicate window is clamped to a retention shorter than itself, per stream.
	b.DLQMaxAge = ptr(30 * time.Second)
	if err := infra.Provision(ctx, js, b); err != nil {
		t.Fatalf("a stream age below the duplicate window: %v", err)
	}
	st, err := js.Stream(ctx, ns.StreamDLQ())
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Config; c.MaxAge != 30*time.Second || c.Duplicates != 30*time.Second {
		t.Errorf("DLQ max age %s, duplicates %s, want 30s both", c.MaxAge, c.Duplicates)
	}

	b.AuthMaxAge, b.RecordsMaxAge, b.DecisionsMaxAge, b.ActionsMaxAge, b.DLQMaxAge = nil, nil, nil, nil, nil
	if err := infra.Provision(ctx, js, b); err != nil {
		t.Fatal(err)
	}
	expect("overrides removed", nil)
}

// TestEveryStreamHasARetentionSetting: a stream added to the contract without its own
// variable would silently ignore per-stream settings.
func TestEveryStreamHasARetentionSetting(t *testing.T) {
	b := bus()
	b.StreamMaxAge = time.Hour
	ages := b.MaxAges()
	for _, s := range b.Namespace().Streams() {
		if ages[s.Name] != time.Hour {
			t.Errorf("stream %s: retention %s, want the global %s", s.Name, ages[s.Name], time.Hour)
		}
	}
	if len(ages) != len(b.Namespace().Streams()) {
		t.Errorf("retention for %d streams, the contract has %d", len(ages), len(b.Namespace().Streams()))
	}
}

// TestPerStreamRetentionFromTheEnvironment: an unset override keeps the global age, while
// 0s set on purpose keeps a stream's messages for ever, so the two must stay apart.
func TestPerStreamRetentionFromTheEnvironment(t *testing.T) {
	var c infra.Config
	err := infra.ParseEnvFrom(&c, map[string]string{
		"DORMANT_STREAM_MAX_AGE":           "720h",
		"DORMANT_STREAM_MAX_AGE_AUTH":      "168h",
		"DORMANT_STREAM_MAX_AGE_DECISIONS": "0s",
	})
	if err != nil {
		t.Fatal(err)
	}
	ns := c.Bus.Namespace()
	ages := c.Bus.MaxAges()
	for stream, want := range map[string]time.Duration{
		ns.StreamAuth(): 168 * time.Hour, ns.StreamDecisions(): 0, ns.StreamRecords(): 720 * time.Hour, ns.StreamDLQ(): 720 * time.Hour,
	} {
		if ages[stream] != want {
			t.Errorf("stream %s keeps %s, want %s", stream, ages[stream], want)
		}
	}
}
