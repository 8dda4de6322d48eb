// Package infratest gives a test the message bus the services run on: the test NATS server
// with dormant's streams provisioned under a subject root of the test's own.
package infratest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

// Bus connects to the test NATS (testenv.NATS: failing under CI=true when it is missing,
// its streams deleted when t ends) and provisions every stream under the returned subject
// root, with one replica and a minute's duplicate window.
func Bus(t testing.TB) (jetstream.JetStream, string) {
	t.Helper()
	nc, root := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := infra.Provision(ctx, js, infra.BusOptions{SubjectRoot: root, StreamReplicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return js, root
}
