package sqlite_test

import (
	"testing"

	"github.com/dormant-dev/dormant/services/policy/storetest"
)

func TestUpcomingConformance(t *testing.T) {
	storetest.RunUpcoming(t, openStore)
}
