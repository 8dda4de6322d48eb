package service

import (
	"testing"
	"time"
)

// TestReplay: a replay puts the auth stream back through the same processing, from a
// sequence or a time, for every site or one, and running it again (or beside the live
// consumer) changes nothing and publishes no record twice.
func TestReplay(t *testing.T) {
	onEachEngine(t, func(t *testing.T, r *rig) {
		// Sequences 1-4: users 0-3 at clinic-a; 5-6: users 10-11 at clinic-b; then, after
		// a pause that a start time can fall in, 7-8: users 4-5 at clinic-a.
		for i := range 4 {
			r.publishEv(r.ns.Auth(siteA), loginEv(t, siteA, user(i), h(i)))
		}
		for i := 10; i < 12; i++ {
			r.publishEv(r.ns.Auth(siteB), loginEv(t, siteB, user(i), h(i)))
		}
		time.Sleep(50 * time.Millisecond)
		later := time.Now()
		time.Sleep(50 * time.Millisecond)
		for i := 4; i < 6; i++ {
			r.publishEv(r.ns.Auth(siteA), loginEv(t, siteA, user(i), h(i)))
		}
		o := r.options()
		stored := func(site string, n int) bool {
			rec, err := r.openStore().LastLogin(r.ctx, site, user(n))
			return err == nil && rec.LastLoginAt.Equal(h(n))
		}

		t.Run("from a time covers only what the stream stored since", func(t *testing.T) {
			got, err := Replay(r.ctx, r.deps(nil), o, ReplayOptions{FromTime: later})
			if err != nil || got.Events != 2 || got.Logins != 2 || got.Records != 2 {
				t.Fatalf("replay = %+v, %v; want 2 logins, 2 records", got, err)
			}
			if !stored(siteA, 4) || !stored(siteA, 5) || stored(siteA, 0) {
				t.Error("the replay from a time stored the wrong users")
			}
		})
		t.Run("limited to a site leaves the other sites alone", func(t *testing.T) {
			got, err := Replay(r.ctx, r.deps(nil), o, ReplayOptions{FromSeq: 1, Site: siteB})
			if err != nil || got.Events != 2 {
				t.Fatalf("replay = %+v, %v; want clinic-b's 2 events", got, err)
			}
			if !stored(siteB, 10) || !stored(siteB, 11) || stored(siteA, 0) {
				t.Error("the site replay stored the wrong users")
			}
		})
		t.Run("from a sequence stores everything, with progress down to nothing pending", func(t *testing.T) {
			var seen []ReplayProgress
			got, err := Replay(r.ctx, r.deps(nil), o, ReplayOptions{FromSeq: 1, Progress: func(p ReplayProgress) { seen = append(seen, p) }})
			if err != nil || got.Events != 8 || got.Logins != 8 {
				t.Fatalf("replay = %+v, %v; want 8 logins", got, err)
			}
			if len(seen) < 3 || seen[len(seen)-1].Pending != 0 || seen[len(seen)-1].Events != 8 || seen[0].Pending == 0 {
				t.Errorf("progress reports %+v; want one per batch of %d, ending with 8 done and none pending", seen, o.BatchSize)
			}
			for i := range 6 {
				if !stored(siteA, i) {
					t.Errorf("user %d not stored", i)
				}
			}
		})
		t.Run("again, beside the live consumer, publishes no record twice", func(t *testing.T) {
			r.start(r.deps(nil), o)
			if _, err := Replay(r.ctx, r.deps(nil), o, ReplayOptions{FromSeq: 1}); err != nil {
				t.Fatal(err)
			}
			r.settled(o.Consumer)
			for site, users := range map[string][]int{siteA: {0, 1, 2, 3, 4, 5}, siteB: {10, 11}} {
				recs := r.recorded(site)
				for _, n := range users {
					if ts := times(recs[user(n)]); len(ts) != 1 || !ts[0].Equal(h(n)) {
						t.Errorf("record events of user %d at %s: %v, want one at %s", n, site, ts, h(n))
					}
				}
			}
		})
		t.Run("a start beyond the end replays nothing", func(t *testing.T) {
			got, err := Replay(r.ctx, r.deps(nil), o, ReplayOptions{FromSeq: 1000})
			if err != nil || got.Events != 0 {
				t.Fatalf("replay = %+v, %v; want nothing", got, err)
			}
		})
	})
}
