package postgres_test

import (
	"testing"

	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/storetest"
)

func TestCensusConformance(t *testing.T) {
	storetest.RunCensus(t, func(t *testing.T) policy.Store { return openStore(t, "") })
}

// TestCensusConformanceInAFarTimeZone: the census compares instants, so a server or session
// set to a zone far from UTC (+12:45/+13:45) counts exactly the same.
func TestCensusConformanceInAFarTimeZone(t *testing.T) {
	storetest.RunCensus(t, func(t *testing.T) policy.Store { return openStore(t, "Pacific/Chatham") })
}
