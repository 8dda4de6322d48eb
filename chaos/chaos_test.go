package chaos

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/platform/testenv"
)

// Sizes of the two runs. The CI run is gentle (two shared cores) and stays well under five
// minutes; the full run is `make chaos`.
var profiles = map[string]Config{
	"ci": {Seed: 1, UsersPerSite: 300, Days: 45, JumpDay: 36, JumpDays: 10, Kills: 8, PGDrops: 3, OpenMRSFaults: 4,
		PolicyReplicas: 2, LeaseTTL: 3 * time.Second, ActuatorRate: 4},
	"full": {Seed: 1, UsersPerSite: 1500, Days: 120, JumpDay: 70, JumpDays: 12, Kills: 30, PGDrops: 8, OpenMRSFaults: 12,
		PolicyReplicas: 2, LeaseTTL: 3 * time.Second, ActuatorRate: 4},
}

// TestChaos runs the fault-injection suite when DORMANT_CHAOS names a profile (ci or full).
// DORMANT_CHAOS_SEED, _USERS, _DAYS, _KILLS and _POLICY_REPLICAS override the profile's figures.
func TestChaos(t *testing.T) {
	name := os.Getenv("DORMANT_CHAOS")
	if name == "" {
		t.Skip("set DORMANT_CHAOS=ci or DORMANT_CHAOS=full (make chaos, make chaos-ci)")
	}
	cfg, ok := profiles[name]
	if !ok {
		t.Fatalf("DORMANT_CHAOS=%q: want ci or full", name)
	}
	override := func(key string, into *int) {
		if v := os.Getenv(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s=%q: %v", key, v, err)
			}
			*into = n
		}
	}
	seed := int(cfg.Seed)
	override("DORMANT_CHAOS_SEED", &seed)
	cfg.Seed = uint64(seed)
	override("DORMANT_CHAOS_USERS", &cfg.UsersPerSite)
	override("DORMANT_CHAOS_DAYS", &cfg.Days)
	override("DORMANT_CHAOS_KILLS", &cfg.Kills)
	override("DORMANT_CHAOS_POLICY_REPLICAS", &cfg.PolicyReplicas)
	if cfg.PolicyReplicas < 1 || cfg.PolicyReplicas > 5 {
		t.Fatalf("DORMANT_CHAOS_POLICY_REPLICAS=%d: want 1 to 5", cfg.PolicyReplicas)
	}
	if cfg.JumpDay > cfg.Days {
		cfg.JumpDay = cfg.Days - 1
	}

	cfg.PostgresURL = testenv.Postgres(t)
	cfg.WorkDir = t.TempDir()
	if dir := os.Getenv("DORMANT_CHAOS_KEEP"); dir != "" {
		// Keep the logs and stores of the processes for a post-mortem.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg.WorkDir = dir
	}
	cfg.Sabotage = os.Getenv("DORMANT_CHAOS_SABOTAGE")
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("chaos run could not be carried out: %v", err)
	}
	t.Logf("%d users on %d sites, %d simulated days, seed %d: %d logins, %d warnings, %d retirements in %s",
		cfg.UsersPerSite*len(sites), len(sites), cfg.Days, cfg.Seed, res.Logins, res.Warnings, res.Retired, res.Elapsed.Round(time.Second))
	t.Logf("faults by kind: %v", res.ByKind)
	if len(res.Takeovers) > 0 {
		t.Logf("%d policy replicas, lease %s: %d takeovers after a leader's kill or pause, %s to %s",
			cfg.PolicyReplicas, cfg.LeaseTTL, len(res.Takeovers), slices.Min(res.Takeovers).Round(time.Millisecond), slices.Max(res.Takeovers).Round(time.Millisecond))
	}
	t.Logf("actuator rate %g/s per site: at most %v retirements per site within %s (limit %d)", cfg.ActuatorRate, res.MaxInWindow, RateWindow, res.RateLimit)
	for _, c := range res.Crashes {
		t.Logf("exit not caused by the suite: %s", c)
	}
	if cfg.Sabotage != "" {
		// The run broke the system on purpose: the oracle must say so.
		for _, v := range res.Violations[:min(len(res.Violations), 20)] {
			t.Logf("violation (expected under sabotage %q) %s", cfg.Sabotage, v)
		}
		if len(res.Violations) == 0 {
			t.Errorf("sabotage %q went unnoticed: the oracle found no violation", cfg.Sabotage)
		}
		os.Stdout.WriteString(res.Summary() + " (sabotage " + cfg.Sabotage + ")\n")
		return
	}
	for _, v := range res.Violations {
		t.Errorf("violation %s", v)
	}
	// The one line `make chaos` prints, whatever the verbosity.
	os.Stdout.WriteString(res.Summary() + "\n")
	if res.Kills+res.Restarts < cfg.Kills {
		t.Errorf("only %d kills and restarts injected, want %d", res.Kills+res.Restarts, cfg.Kills)
	}
}
