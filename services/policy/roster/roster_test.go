package roster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
	"github.com/dormant-dev/dormant/services/policy/roster"
)

// A first sync publishes every user once; a second publishes nothing and reads no person; a
// third publishes exactly the users whose facts changed, and not those who only logged in.
func TestSyncPublishesEachChangedUserOnce(t *testing.T) {
	w := newWorld(t)
	uuids := w.addUsers("nurse", 3000)
	all := len(uuids) + 1 // and the fake's admin
	s := w.syncer(w.client, roster.Options{PageSize: 100, ProgressEvery: 1000})

	res, err := s.Sync(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != all || res.Published != all || res.PersonReads != all || res.Resumed {
		t.Fatalf("first sync: %+v, want %d read, published and person reads", res, all)
	}
	evs := w.synced()
	counts := byUser(evs)
	if len(evs) != all || len(counts) != all {
		t.Fatalf("first sync stored %d events for %d users, want %d each", len(evs), len(counts), all)
	}
	first := evs[1] // nurse-0
	if first.Username != "nurse-0" || first.GivenName != "Given0" || first.FamilyName != "Family" ||
		!slices.Equal(first.Roles, []string{"Provider"}) || first.Properties["defaultLocation"] != "1" ||
		!first.CreatedAt.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) || first.Retired {
		t.Errorf("nurse-0 synced as %+v", first)
	}

	res, err = s.Sync(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != all || res.Published != 0 || res.PersonReads != 0 || res.Unchanged != all {
		t.Fatalf("second sync of an unchanged roster: %+v, want %d read and unchanged, nothing published or looked up", res, all)
	}

	// Changes: two retired, one given a property, two new users; one only logged in.
	for _, u := range uuids[10:12] {
		if err := w.client.RetireUser(w.ctx, u, "left the clinic"); err != nil {
			t.Fatal(err)
		}
	}
	w.fake.SetUserProperty(uuids[20], "demo", "true")
	w.fake.SetUserProperty(uuids[30], openmrs.UserPropertyLastLogin, fmt.Sprint(time.Now().UnixMilli()))
	w.fake.SetUserProperty(uuids[31], "loginAttempts", "2")
	fresh := w.addUsers("locum", 2)

	res, err = s.Sync(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Published != 5 || res.PersonReads != 2 || res.Read != all+2 {
		t.Fatalf("third sync: %+v, want 5 published (2 retired, 1 property, 2 new) and 2 person reads", res)
	}
	evs = w.synced()
	if len(evs) != all+5 {
		t.Fatalf("stream holds %d user events, want %d", len(evs), all+5)
	}
	changed := evs[all:]
	want := []string{uuids[10], uuids[11], uuids[20], fresh[0], fresh[1]}
	var got []string
	for _, e := range changed {
		got = append(got, e.UserUUID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("third sync published %v, want %v (listing order)", got, want)
	}
	if !changed[0].Retired || changed[0].RetireReason != "left the clinic" {
		t.Errorf("retired user synced as %+v", changed[0])
	}
	if changed[2].Properties["demo"] != "true" {
		t.Errorf("property change synced as %+v", changed[2])
	}
}

// A sync stopped part-way (the process killed) resumes from its checkpoint and publishes the
// rest: every user is stored once, none is lost, none read twice from OpenMRS beyond the batch
// in flight.
func TestSyncResumesAfterInterruption(t *testing.T) {
	w := newWorld(t)
	w.addUsers("clerk", 2500)
	all := 2501

	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	stopped := w.syncer(stopAfter{Client: w.client, at: 1234, cancel: cancel}, roster.Options{PageSize: 100})
	if _, err := stopped.Sync(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted sync returned %v, want context.Canceled", err)
	}
	cp, err := w.store.Checkpoint(w.ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	if !cp.Running || cp.NextIndex != 1200 || cp.Read != 1200 {
		t.Fatalf("checkpoint after the interruption: %+v, want running at index 1200", cp)
	}

	// A new process: a new syncer on the same store.
	res, err := w.syncer(w.client, roster.Options{PageSize: 100}).Sync(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.From != 1200 || res.Read != all-1200 {
		t.Fatalf("resumed sync: %+v, want resumed from 1200 reading %d", res, all-1200)
	}
	evs := w.synced()
	counts := byUser(evs)
	if len(counts) != all {
		t.Fatalf("%d users stored, want %d", len(counts), all)
	}
	for u, n := range counts {
		if n != 1 {
			t.Errorf("user %s stored %d times", u, n)
		}
	}
	cp, err = w.store.Checkpoint(w.ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Running || cp.NextIndex != 0 || cp.LastTotal != all || cp.Read != all || cp.Published != all {
		t.Errorf("checkpoint after the resumed sync: %+v, want finished with %d read and published", cp, all)
	}
}

// The crash window between publishing a batch and recording it: the batch is published again
// on resume with the same event ids, and JetStream keeps one copy.
func TestSyncRepublishedBatchIsDeduplicated(t *testing.T) {
	w := newWorld(t)
	w.addUsers("porter", 499)
	if _, err := w.syncer(w.client, roster.Options{PageSize: 100}).Sync(w.ctx); err != nil {
		t.Fatal(err)
	}
	// Forget the last two batches as if they had been published but the process died before
	// recording them, with the checkpoint still at index 300.
	if _, err := w.db.SQL().ExecContext(w.ctx, `DELETE FROM roster_users WHERE user_uuid IN (SELECT user_uuid FROM roster_users ORDER BY rowid LIMIT -1 OFFSET 300)`); err != nil {
		t.Fatal(err)
	}
	if err := w.store.Commit(w.ctx, site, nil, roster.Checkpoint{Running: true, NextIndex: 300, Read: 300, Published: 300, StartedAt: time.Now()}, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := w.syncer(w.client, roster.Options{PageSize: 100}).Sync(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Published != 200 || res.Duplicates != 200 {
		t.Fatalf("resumed sync: %+v, want the 200 forgotten users published again and all dropped as duplicates", res)
	}
	if evs := w.synced(); len(evs) != 500 {
		t.Fatalf("stream holds %d user events, want 500", len(evs))
	}
}

// Failures: OpenMRS refusing the account fails fast and leaves nothing behind; a server error
// that retries cure is invisible; one that lasts stops the sync at its last recorded batch, and
// the next sync resumes there.
func TestSyncFailures(t *testing.T) {
	cases := []struct {
		name string
		// setup prepares the fake and returns the source to sync from.
		setup      func(w *world) roster.Source
		wantErr    func(error) bool
		wantIndex  int // checkpoint index after the failed sync
		wantStored int // users stored before the failure
		addsUser   bool
	}{
		{
			name:      "wrong password",
			setup:     func(w *world) roster.Source { return w.newClient("admin", "wrong") },
			wantErr:   openmrs.IsUnauthorized,
			wantIndex: 0,
		},
		{
			name: "acting user lacks Get Users",
			setup: func(w *world) roster.Source {
				w.fake.AddRole("Reader", openmrstest.PrivGetPeople)
				w.fake.AddUser(openmrstest.UserSpec{Username: "dormant", Password: "Secret123", Roles: []string{"Reader"}})
				return w.newClient("dormant", "Secret123")
			},
			wantErr:  openmrs.IsForbidden,
			addsUser: true,
		},
		{
			name: "acting user lacks Get People",
			setup: func(w *world) roster.Source {
				w.fake.AddRole("Lister", openmrstest.PrivGetUsers)
				w.fake.AddUser(openmrstest.UserSpec{Username: "dormant", Password: "Secret123", Roles: []string{"Lister"}})
				return w.newClient("dormant", "Secret123")
			},
			wantErr:  openmrs.IsForbidden,
			addsUser: true,
		},
		{
			name: "503 on the listing that retries cure",
			setup: func(w *world) roster.Source {
				w.fake.InjectFault(openmrstest.Fault{Method: "GET", PathPrefix: "/user", Count: 2, Status: 503})
				return w.client
			},
			wantErr: nil,
		},
		{
			name:       "503 on the listing from index 250 on",
			setup:      func(w *world) roster.Source { return failFrom{Client: w.client, fake: w.fake, at: 250} },
			wantErr:    func(err error) bool { return openmrs.Retryable(err) },
			wantIndex:  300, // the page in hand when the fault began is finished
			wantStored: 300,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.addUsers("aide", 599)
			_, err := w.syncer(tc.setup(w), roster.Options{PageSize: 100}).Sync(w.ctx)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("sync: %v", err)
				}
				if n := len(w.synced()); n != 600 {
					t.Fatalf("%d users stored, want 600", n)
				}
				return
			}
			if err == nil || !tc.wantErr(err) {
				t.Fatalf("sync returned %v", err)
			}
			cp, cerr := w.store.Checkpoint(w.ctx, site)
			if cerr != nil {
				t.Fatal(cerr)
			}
			if cp.NextIndex != tc.wantIndex {
				t.Errorf("checkpoint %+v, want index %d", cp, tc.wantIndex)
			}
			if n := len(w.synced()); n != tc.wantStored {
				t.Fatalf("%d users stored, want %d", n, tc.wantStored)
			}
			// Once OpenMRS is well (or the account fixed), a sync finishes the roster.
			w.fake.ClearFaults()
			res, err := w.syncer(w.client, roster.Options{PageSize: 100}).Sync(w.ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := 600
			if tc.addsUser {
				want++
			}
			if res.From != tc.wantIndex || len(byUser(w.synced())) != want {
				t.Errorf("recovery sync %+v; %d users stored", res, len(byUser(w.synced())))
			}
		})
	}
}
