package deploytest

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func composeFile(t *testing.T) string { return filepath.Join(repo(t), "docker-compose.yml") }

// TestComposeFile: the file loads as Docker Compose loads it, has the services the issue asks
// for with their images and health checks, and agrees with the code.
func TestComposeFile(t *testing.T) {
	p, err := LoadCompose(context.Background(), repo(t), composeFile(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // service → image prefix
		"nats-1":       "nats:2.10",
		"nats-2":       "nats:2.10",
		"nats-3":       "nats:2.10",
		"postgres":     "postgres:",
		"login-ingest": "dormant/login-ingest:",
		"policy":       "dormant/policy:",
		"openmrs":      "openmrs/openmrs-reference-application-3-backend:",
		"openmrs-db":   "mariadb:",
		"mailpit":      "axllent/mailpit:",
		"dormant":      "dormant/dormant:",
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range p.Services {
			if !yield(n) {
				return
			}
		}
	})
	if len(names) != len(want) {
		t.Errorf("services %v, want %d", names, len(want))
	}
	for name, prefix := range want {
		s, ok := p.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		if !strings.HasPrefix(s.Image, prefix) {
			t.Errorf("%s: image %s, want %s...", name, s.Image, prefix)
		}
	}
	for _, name := range []string{"login-ingest", "policy"} {
		if got := p.Services[name].Environment["DORMANT_STREAM_REPLICAS"]; got == nil || *got != "3" {
			t.Errorf("%s: DORMANT_STREAM_REPLICAS %v, want 3 in the cluster profile", name, got)
		}
	}
	if err := CheckCompose(repo(t), p); err != nil {
		t.Fatal(err)
	}
}

// TestComposeRejectsWrongFixtures: each check fails on a compose file that breaks it, among them
// a variable the code does not read (what renaming it in code looks like).
func TestComposeRejectsWrongFixtures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string
		wantErr  string
	}{
		{"renamed variable", `DORMANT_STREAM_REPLICAS: "3"`, `DORMANT_STREAM_REPLICA_COUNT: "3"`, "does not read DORMANT_STREAM_REPLICA_COUNT"},
		{"replicas below the cluster size", `DORMANT_STREAM_REPLICAS: "3"`, `DORMANT_STREAM_REPLICAS: "1"`, "DORMANT_STREAM_REPLICAS 1: the cluster has 3 NATS servers"},
		{"replicas on the embedded server", `DORMANT_STREAM_REPLICAS: "1"`, `DORMANT_STREAM_REPLICAS: "3"`, "embedded NATS is one server"},
		{"a missing site secret", "      DORMANT_DEMO_TOKEN: ${DORMANT_DEMO_TOKEN:-demo-token}    # the hook's bearer token for site demo\n", "", "reads secret DORMANT_DEMO_TOKEN"},
		{"loopback HTTP", "DORMANT_HTTP_ADDR: 0.0.0.0:8082", "DORMANT_HTTP_ADDR: 127.0.0.1:8082", "loopback"},
		{"published port the binary does not listen on", `"127.0.0.1:8081:8081"`, `"127.0.0.1:8081:9000"`, "publishes container port 9000"},
		{"port open to the network", `"127.0.0.1:8025:8025"`, `"8025:8025"`, "bind it to 127.0.0.1"},
		{"health check with curl", `["CMD", "/usr/local/bin/policy", "healthcheck"]`, `["CMD", "curl", "-f", "http://127.0.0.1:8082/healthz"]`, "healthcheck [CMD curl"},
		{"no health check", "    healthcheck:\n      test: [\"CMD\", \"pg_isready\", \"-U\", \"dormant\", \"-d\", \"dormant_ingest\"]\n      interval: 5s\n      timeout: 3s\n      retries: 12\n", "", "service postgres: no health check"},
		{"NATS URL missing a node", "DORMANT_NATS_URL: nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222", "DORMANT_NATS_URL: nats://nats-1:4222,nats://nats-2:4222", "DORMANT_NATS_URL names [nats-1 nats-2]"},
		{"routes missing a node", `"nats://nats-1:6222,nats://nats-2:6222,nats://nats-3:6222"]
    volumes: ["nats-3:/data"]`, `"nats://nats-1:6222,nats://nats-2:6222"]
    volumes: ["nats-3:/data"]`, "service nats-3: --routes reach [nats-1 nats-2]"},
		{"JetStream store not on a volume", `volumes: ["nats-2:/data"]`, `volumes: []`, "service nats-2: --store_dir"},
		{"not waiting for the database", "      postgres: {condition: service_healthy}\n      mailpit:", "      postgres: {condition: service_started}\n      mailpit:", "depends_on postgres"},
		{"a sites file the code cannot load", "./deploy/docker/compose-sites.yaml:/etc/dormant/sites.yaml:ro\n    ports: [\"127.0.0.1:8082", "./deploy/kubernetes/nats-values.yaml:/etc/dormant/sites.yaml:ro\n    ports: [\"127.0.0.1:8082", "site configuration"},
		{"a site whose OpenMRS is not a service", "./deploy/docker/compose-sites.yaml:/etc/dormant/sites.yaml:ro\n    ports: [\"127.0.0.1:8082", "./deploy/deploytest/testdata/sites-unknown-host.yaml:/etc/dormant/sites.yaml:ro\n    ports: [\"127.0.0.1:8082", "openmrs_url host emr.elsewhere.example is not a service"},
		{"a policy block the policy code refuses", "./deploy/docker/compose-sites.yaml:/etc/dormant/sites.yaml:ro\n    ports: [\"127.0.0.1:8082", "./deploy/deploytest/testdata/sites-bad-policy.yaml:/etc/dormant/sites.yaml:ro\n    ports: [\"127.0.0.1:8082", "site demo: policy"},
		{"an unknown compose key", "    restart: unless-stopped\n    environment:\n      POSTGRES_USER", "    restart: unless-stopped\n    restart_policy: always\n    environment:\n      POSTGRES_USER", "restart_policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := mutate(t, composeFile(t), t.TempDir(), "docker-compose.yml", tc.old, tc.new)
			p, err := LoadCompose(context.Background(), repo(t), path)
			if err == nil {
				err = CheckCompose(repo(t), p)
			}
			wantErr(t, err, tc.wantErr)
		})
	}
}
