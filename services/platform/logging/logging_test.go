package logging_test

import (
	"testing"

	"github.com/dormant-dev/dormant/services/platform/logging"
)

func TestNewValidatesLevelAndFormat(t *testing.T) {
	tests := []struct {
		level, format string
		ok            bool
	}{
		{"", "", true},
		{"debug", "console", true},
		{"warn", "json", true},
		{"loud", "json", false},
		{"info", "xml", false},
	}
	for _, tc := range tests {
		_, err := logging.New(tc.level, tc.format)
		if (err == nil) != tc.ok {
			t.Errorf("New(%q, %q) error = %v, want ok=%v", tc.level, tc.format, err, tc.ok)
		}
	}
}
