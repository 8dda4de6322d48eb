package chaos

import (
	"math"
	"strings"
	"testing"
	"time"
)

// steady is n retirements of a site spaced as a limiter at rate sends them, from start.
func steady(site, by string, start time.Time, rate float64, n int) []RetirementLog {
	var out []RetirementLog
	for i := range n {
		out = append(out, RetirementLog{Action: "retire", Site: site, By: by, UUID: site + "-u", At: start.Add(time.Duration(math.Round(float64(i) / rate * float64(time.Second))))})
	}
	return out
}

// eachRule lists every violation's rule, repeats included (rules dedupes).
func eachRule(vs []Violation) string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Rule)
	}
	return strings.Join(out, ",")
}

func TestCheckReplicasRate(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)
	const rate = 10
	window := 5 * time.Second
	tests := []struct {
		name    string
		rets    []RetirementLog
		bunched []Interval
		want    string
	}{
		{"one actuator at the rate", steady("a", "r0", t0, rate, 120), nil, ""},
		{"one actuator per site, two sites", append(steady("a", "r0", t0, rate, 120), steady("b", "r0", t0, rate, 120)...), nil, ""},
		{"a takeover: the second starts a lease later", append(steady("a", "r0", t0, rate, 60), steady("a", "r1", t0.Add(9*time.Second), rate, 60)...), nil, ""},
		{"an overlap of a second is within the jitter allowance", append(steady("a", "r0", t0, rate, 60), steady("a", "r1", t0.Add(5*time.Second), rate, 60)...), nil, ""},
		{"two actuators at once on a site", append(steady("a", "r0", t0, rate, 60), steady("a", "r1", t0.Add(50*time.Millisecond), rate, 60)...), nil, "actuator-rate"},
		{"two actuators overlapping for three seconds", append(steady("a", "r0", t0, rate, 60), steady("a", "r1", t0.Add(2*time.Second), rate, 30)...), nil, "actuator-rate"},
		{"twice the rate on each of two sites", append(steady("a", "r0", t0, 2*rate, 100), steady("b", "r1", t0, 2*rate, 100)...), nil, "actuator-rate,actuator-rate"},
		{"a burst inside a bunched span is left out", steady("a", "r0", t0, 5*rate, 100), []Interval{{t0.Add(-time.Second), t0.Add(9 * time.Second)}}, ""},
		{"a burst beside a bunched span still counts", steady("a", "r0", t0, 5*rate, 100), []Interval{{t0.Add(-9 * time.Second), t0.Add(-time.Second)}}, "actuator-rate"},
		{"unretires and purges are not retirements", append(steady("a", "r0", t0, rate, 20), RetirementLog{Action: "purge", Site: "a", At: t0}, RetirementLog{Action: "unretire", Site: "a", At: t0},
			RetirementLog{Action: "unretire", Site: "a", At: t0}), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := eachRule(CheckReplicas(ReplicaObserved{Rate: rate, Window: window, Bunched: tc.bunched}, tc.rets))
			if got != tc.want {
				t.Errorf("violations %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRateLimitAndMaxInWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)
	if got := RateLimit(10, 5*time.Second); got != 61 {
		t.Errorf("RateLimit(10, 5s) = %d, want 61", got)
	}
	if got := RateLimit(2.5, time.Second); got != 6 {
		t.Errorf("RateLimit(2.5, 1s) = %d, want 6", got)
	}
	// 10 per second for 12 s: any 5 s window holds 50 (the window is half-open).
	got := MaxInWindow(steady("a", "r0", t0, 10, 120), 5*time.Second, nil)
	if got["a"] != 50 {
		t.Errorf("MaxInWindow of a steady 10/s = %d, want 50", got["a"])
	}
}

func TestCheckReplicasPausedLeader(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)
	stopped, cont := t0, t0.Add(5*time.Second)
	by := map[string]int{"admin-0-a": 0, "admin-1-a": 1}
	ret := func(who string, at time.Time) RetirementLog {
		return RetirementLog{Action: "retire", Site: "a", By: who, UUID: "u-" + at.Format("150405.000"), At: at}
	}
	tests := []struct {
		name   string
		relead time.Time
		rets   []RetirementLog
		want   string
	}{
		{"nothing after the pause", t0.Add(20 * time.Second), []RetirementLog{ret("admin-0-a", stopped.Add(-time.Second))}, ""},
		{"a request sent before the pause lands during it", time.Time{}, []RetirementLog{ret("admin-0-a", stopped.Add(100*time.Millisecond))}, ""},
		{"the other replica retires after the pause", time.Time{}, []RetirementLog{ret("admin-1-a", cont.Add(time.Second))}, ""},
		{"the paused replica retires after it led again", cont.Add(2 * time.Second), []RetirementLog{ret("admin-0-a", cont.Add(3*time.Second))}, ""},
		{"the paused replica retires right after resuming", cont.Add(2 * time.Second), []RetirementLog{ret("admin-0-a", cont.Add(10*time.Millisecond))}, "paused-leader-acted"},
		{"the paused replica retires and never leads again", time.Time{}, []RetirementLog{ret("admin-0-a", cont.Add(30*time.Second))}, "paused-leader-acted"},
		{"an unknown acting user is not a replica", time.Time{}, []RetirementLog{ret("admin", cont.Add(time.Second))}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs := ReplicaObserved{Rate: 1000, Window: time.Second, By: by, Pauses: []Pause{{Replica: 0, Stopped: stopped, Continued: cont, Relead: tc.relead}}}
			if got := eachRule(CheckReplicas(obs, tc.rets)); got != tc.want {
				t.Errorf("violations %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLeadingSince(t *testing.T) {
	log := strings.Join([]string{
		`not json: the process printed this before its logger`,
		`{"level":"info","ts":"2026-11-23T13:00:01.000Z","logger":"policy.leader","msg":"leading","revision":3}`,
		`{"level":"info","ts":"2026-11-23T13:00:02.000Z","logger":"policy","msg":"leading: starting the once-per-cluster work"}`,
		`{"level":"warn","ts":"2026-11-23T13:00:05.000Z","logger":"policy.leader","msg":"stepped down","reason":"x"}`,
		`{"level":"info","ts":"2026-11-23T13:00:09.500Z","logger":"policy.leader","msg":"leading (taken back: NATS still had it as ours)"}`,
		`{"level":"info","ts":"2026-11-23T13:00:12.000Z","logger":"policy.leader","msg":"leading","revision":9}`,
		`{"level":"info","ts":"2026-11-23T13:00:1`, // cut by a SIGKILL
	}, "\n")
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		after time.Time
		want  time.Time
	}{
		{at("2026-11-23T12:00:00Z"), at("2026-11-23T13:00:01Z")},
		{at("2026-11-23T13:00:01Z"), at("2026-11-23T13:00:09.5Z")}, // "leading: starting …" is not a win
		{at("2026-11-23T13:00:10Z"), at("2026-11-23T13:00:12Z")},
		{at("2026-11-23T13:00:12Z"), time.Time{}},
	}
	for _, tc := range tests {
		got, err := LeadingSince(strings.NewReader(log), tc.after)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(tc.want) {
			t.Errorf("LeadingSince(%s) = %s, want %s", tc.after, got, tc.want)
		}
	}
	if _, err := LeadingSince(strings.NewReader(`{"ts":"yesterday","msg":"leading"}`), time.Time{}); err == nil {
		t.Error("a leading line with an unreadable ts: want an error, got none")
	}
}
