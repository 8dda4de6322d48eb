package sqlite_test

import (
	"testing"

	"github.com/dormant-dev/dormant/services/policy/storetest"
)

func TestCensusConformance(t *testing.T) {
	storetest.RunCensus(t, openStore)
}
