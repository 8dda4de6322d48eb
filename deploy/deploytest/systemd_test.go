package deploytest

import (
	"path/filepath"
	"testing"
)

// TestSystemdUnit: the unit and its environment example run the all-in-one unprivileged, with
// its data in the state directory, and every variable is one the binary reads; the example
// sites file's secrets are all given.
func TestSystemdUnit(t *testing.T) {
	dir := filepath.Join(repo(t), "deploy/systemd")
	for _, tc := range []struct {
		name, file, old, new, wantErr string
	}{
		{"as shipped", "", "", "", ""},
		{"renamed variable", "dormant.env.example", "DORMANT_NATS_LISTEN=", "DORMANT_NATS_LISTEN_ADDR=", "does not read DORMANT_NATS_LISTEN_ADDR"},
		{"missing secret", "dormant.env.example", "DORMANT_DEMO_TOKEN=change-me-long-random\n", "", "reads secret DORMANT_DEMO_TOKEN"},
		{"bad value", "dormant.env.example", "DORMANT_STREAM_MAX_AGE=2160h", "DORMANT_STREAM_MAX_AGE=90d", `DORMANT_STREAM_MAX_AGE="90d": time: unknown unit "d"`},
		{"root", "dormant.service", "DynamicUser=yes", "DynamicUser=no", "runs as root"},
		{"data outside the state directory", "dormant.service", "Environment=DORMANT_DATA_DIR=/var/lib/dormant", "Environment=DORMANT_DATA_DIR=/opt/dormant", "StateDirectory"},
		{"another command", "dormant.service", "ExecStart=/usr/local/bin/dormant serve", "ExecStart=/usr/local/bin/dormant", "ExecStart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			unitPath, envPath := filepath.Join(dir, "dormant.service"), filepath.Join(dir, "dormant.env.example")
			switch tc.file {
			case "dormant.service":
				unitPath = mutate(t, unitPath, tmp, tc.file, tc.old, tc.new)
			case "dormant.env.example":
				envPath = mutate(t, envPath, tmp, tc.file, tc.old, tc.new)
			}
			u, err := ReadUnit(unitPath)
			if err != nil {
				t.Fatal(err)
			}
			envs, err := ReadEnvFile(envPath)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckUnit(u, envs, filepath.Join(repo(t), "deploy/dormant.example.yaml"))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tc.wantErr)
		})
	}
}
