package dormant_test

import (
	"strings"
	"testing"

	"github.com/dormant-dev/dormant/services/dormant"
)

// TestMalformedVariablesAreNamed: the all-in-one reads the same field names (AckWait,
// BatchSize) for several components; an operator's typo must be reported by the variable
// they set, not by a Go field they cannot see.
func TestMalformedVariablesAreNamed(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{"DORMANT_INGEST_ACK_WAIT", "thirty", `DORMANT_INGEST_ACK_WAIT="thirty": time: invalid duration "thirty"`},
		{"DORMANT_POLICY_ACK_WAIT", "30", `DORMANT_POLICY_ACK_WAIT="30": time: missing unit in duration "30"`},
		{"DORMANT_ACTUATOR_RATE", "ten", `DORMANT_ACTUATOR_RATE="ten": strconv.ParseFloat`},
		{"DORMANT_POLICY_BATCH_SIZE", "5OO", `DORMANT_POLICY_BATCH_SIZE="5OO": strconv.ParseInt`},
		{"DORMANT_CLOCK_ENABLED", "yes", `DORMANT_CLOCK_ENABLED="yes": strconv.ParseBool`},
		{"DORMANT_STREAM_MAX_AGE_AUTH", "7d", `DORMANT_STREAM_MAX_AGE_AUTH="7d": time: unknown unit "d"`},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			t.Setenv("DORMANT_CONFIG", "unused.yaml")
			t.Setenv(tc.key, tc.value)
			_, err := dormant.ConfigFromEnv()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "field") {
				t.Errorf("err = %v names a Go field", err)
			}
		})
	}
}
