package postgres_test

import (
	"testing"

	"github.com/dormant-dev/dormant/services/policy"
	"github.com/dormant-dev/dormant/services/policy/storetest"
)

func TestUpcomingConformance(t *testing.T) {
	storetest.RunUpcoming(t, func(t *testing.T) policy.Store { return openStore(t, "") })
}
