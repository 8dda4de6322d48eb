package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/events/eventstest"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/platform/infra/infratest"
	"github.com/dormant-dev/dormant/services/platform/testenv"
)

func TestReactivateCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js, root := infratest.Bus(t)
	fake := openmrstest.New()
	defer fake.Close()
	id := fake.AddUser(openmrstest.UserSpec{Username: "lab1", Retired: true, RetireReason: "dormant: no login for 90 days"})

	dir := t.TempDir()
	conf := filepath.Join(dir, "sites.yaml")
	doc := fmt.Sprintf("sites:\n  - id: clinic-a\n    openmrs_url: %s\n    openmrs_user: admin\n    openmrs_password_env: DORMANT_TEST_REACTIVATE_PW\n", fake.URL())
	if err := os.WriteFile(conf, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DORMANT_TEST_REACTIVATE_PW", "Admin123")
	t.Setenv("DORMANT_CONFIG", conf)
	t.Setenv("DORMANT_NATS_URL", testenv.NATSURL())
	t.Setenv("DORMANT_SUBJECT_ROOT", root)
	t.Setenv("DORMANT_DATA_DIR", dir)
	t.Setenv("DORMANT_DB", "")

	var out bytes.Buffer
	if err := run(ctx, []string{"reactivate", "-site", "clinic-a", "-user", id, "-by", "ada", "-reason", "back from leave"}, &out, &out); err != nil {
		t.Fatalf("reactivate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "lab1 ("+id+") at clinic-a: unretired by ada") {
		t.Fatalf("output %q", out.String())
	}
	if u, _ := fake.User(id); u.Retired {
		t.Fatal("still retired in OpenMRS")
	}
	ns := events.Namespace{Root: root}
	c, err := js.OrderedConsumer(ctx, ns.StreamActions(), jetstream.OrderedConsumerConfig{FilterSubjects: []string{ns.Reactivated("clinic-a")}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("no reactivated event: %v", err)
	}
	ev, err := events.FromNATS(m.Headers(), m.Data())
	if err != nil {
		t.Fatal(err)
	}
	eventstest.AssertMatchesSchema(t, ev)
	d, err := events.DecodeAs[*events.UserReactivated](ev)
	if err != nil || d.UserUUID != id || d.By != "ada" || d.Reason != "back from leave" {
		t.Fatalf("event %+v, %v", d, err)
	}

	if err := run(ctx, []string{"reactivate", "-site", "clinic-a", "-user", id, "-by", "ada"}, &out, &out); err == nil || !strings.Contains(err.Error(), "-reason") {
		t.Fatalf("a reactivation without a reason: %v", err)
	}
}
