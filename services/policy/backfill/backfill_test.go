package backfill_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/events/eventstest"
	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/platform/infra/infratest"
	"github.com/dormant-dev/dormant/services/policy/backfill"
)

const site = "clinic-b"

func TestBackfill(t *testing.T) {
	ctx := t.Context()
	js, root := infratest.Bus(t)
	ns := events.Namespace{Root: root}
	fake := openmrstest.New()
	defer fake.Close()
	now := time.Now().UTC().Truncate(time.Second).Add(time.Minute)
	ms := func(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }

	// 250 users who logged in with a password, one a day back from now, and the odd ones.
	want := map[string]time.Time{}
	for i := range 250 {
		at := now.Add(-time.Duration(i+1) * 24 * time.Hour).Add(123 * time.Millisecond)
		u := fake.AddUser(openmrstest.UserSpec{Username: fmt.Sprintf("user-%d", i), Properties: map[string]string{openmrs.UserPropertyLastLogin: ms(at)}})
		want[u] = at
	}
	for i := range 40 {
		fake.AddUser(openmrstest.UserSpec{Username: fmt.Sprintf("oauth-%d", i)}) // never a password login
	}
	fake.AddUser(openmrstest.UserSpec{Username: "garbled", Properties: map[string]string{openmrs.UserPropertyLastLogin: "yesterday"}})
	fake.AddUser(openmrstest.UserSpec{Username: "zero", Properties: map[string]string{openmrs.UserPropertyLastLogin: "0"}})
	fake.AddUser(openmrstest.UserSpec{Username: "clock-ahead", Properties: map[string]string{openmrs.UserPropertyLastLogin: ms(now.Add(time.Hour))}})
	slightlyAhead := now.Add(2 * time.Minute) // within the skew login-ingest allows
	want[fake.AddUser(openmrstest.UserSpec{Username: "skewed", Properties: map[string]string{openmrs.UserPropertyLastLogin: ms(slightlyAhead)}})] = slightlyAhead
	noName := fake.AddUser(openmrstest.UserSpec{SystemID: "77-1", Properties: map[string]string{openmrs.UserPropertyLastLogin: ms(now.Add(-time.Hour))}})
	want[noName] = now.Add(-time.Hour)
	read := 1 + 250 + 40 + 5 // with the fake's admin

	client, err := openmrs.New(openmrs.Config{BaseURL: fake.URL(), Username: "admin", Password: "Admin123"})
	if err != nil {
		t.Fatal(err)
	}
	// Logging in makes the fake, like core, stamp the admin's own lastLoginTimestamp.
	if _, err := client.Session(ctx); err != nil {
		t.Fatal(err)
	}
	admin, _ := fake.User(fake.UserUUID("admin"))
	adminAt, err := strconv.ParseInt(admin.Properties[openmrs.UserPropertyLastLogin], 10, 64)
	if err != nil {
		t.Fatalf("the fake did not stamp the admin's login: %v", err)
	}
	want[admin.UUID] = time.UnixMilli(adminAt).UTC()
	opts := backfill.Options{PageSize: 50, Now: func() time.Time { return now }}
	stored := func() []*events.UserSession {
		t.Helper()
		return sessions(t, ctx, js, ns)
	}

	cases := []struct {
		name      string
		dryRun    bool
		published int
		dups      int
		inStream  int
	}{
		{name: "dry run sends nothing", dryRun: true, inStream: 0},
		{name: "first run publishes every usable timestamp", published: len(want), inStream: len(want)},
		{name: "second run is dropped as duplicates", dups: len(want), inStream: len(want)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			o.DryRun = tc.dryRun
			var pub jetstream.JetStream = js
			if tc.dryRun {
				pub = nil // a dry run must not need the bus
			}
			sum, err := backfill.Run(ctx, client, pub, ns, site, o)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Read != read || sum.WithTimestamp != len(want)+3 || sum.Eligible != len(want) ||
				sum.Published != tc.published || sum.Duplicates != tc.dups ||
				sum.Skipped[backfill.SkipUnparseable] != 2 || sum.Skipped[backfill.SkipFuture] != 1 || sum.SkippedTotal() != 3 {
				t.Fatalf("summary %+v", sum)
			}
			if !sum.Newest.Equal(slightlyAhead) || !sum.Oldest.Equal(now.Add(-250*24*time.Hour).Add(123*time.Millisecond)) {
				t.Errorf("range %s .. %s", sum.Oldest, sum.Newest)
			}
			if s := sum.String(); !strings.Contains(s, fmt.Sprintf("%d users read", read)) || !strings.Contains(s, "3 skipped (unparseable 2, future 1)") {
				t.Errorf("summary text %q", s)
			}
			got := stored()
			if len(got) != tc.inStream {
				t.Fatalf("auth stream holds %d logins, want %d", len(got), tc.inStream)
			}
			for _, s := range got {
				at, ok := want[s.UserUUID]
				if !ok || !s.OccurredAt.Equal(at) || s.Event != events.EventLogin || s.Status != events.StatusSuccess || s.Method != events.MethodOther {
					t.Errorf("unexpected login %+v", s)
				}
				if s.UserUUID == noName && s.Username != "77-1" {
					t.Errorf("a user without username logs in with the system id, got %q", s.Username)
				}
			}
		})
	}
}

// sessions reads the logins on the site's auth subject, each checked against its schema and
// marked as the backfill's by its source.
func sessions(t *testing.T, ctx context.Context, js jetstream.JetStream, ns events.Namespace) []*events.UserSession {
	t.Helper()
	c, err := js.OrderedConsumer(ctx, ns.StreamAuth(), jetstream.OrderedConsumerConfig{FilterSubjects: []string{ns.Auth(site)}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*events.UserSession
	for pending := int(info.NumPending); pending > 0; {
		batch, err := c.Fetch(pending, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			ev, err := events.FromNATS(m.Headers(), m.Data())
			if err != nil {
				t.Fatal(err)
			}
			eventstest.AssertMatchesSchema(t, ev)
			if ev.Source() != events.SourceFor("backfill", site) || ev.ID() != m.Headers().Get(jetstream.MsgIDHeader) {
				t.Errorf("event source %q id %q, header id %q", ev.Source(), ev.ID(), m.Headers().Get(jetstream.MsgIDHeader))
			}
			d, err := events.Decode(ev)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, d.(*events.UserSession))
			n++
		}
		if n == 0 {
			t.Fatalf("%d pending but none fetched", pending)
		}
		pending -= n
	}
	return out
}
