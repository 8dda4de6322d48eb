package infra_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
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
