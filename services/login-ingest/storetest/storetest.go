// Package storetest is the conformance suite every ingest.Store passes: the same tests, run
// against SQLite and PostgreSQL, and the benchmark workload both engines are measured on.
package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	ingest "github.com/dormant-dev/dormant/services/login-ingest"
)

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

// login is user's login at hour h; its username and location name the hour, so a record
// shows which login it took them from.
func login(site, user string, h int) ingest.Login {
	return ingest.Login{Site: site, UserUUID: user, Username: fmt.Sprintf("%s-at-%d", user, h), LocationUUID: fmt.Sprintf("loc-%d", h), At: at(h)}
}

// rec is the record login(site, user, h) leaves, with the previous login at hour prev
// (none when prev < 0).
func rec(site, user string, h, prev int) ingest.Record {
	l := login(site, user, h)
	r := ingest.Record{Site: site, UserUUID: user, Username: l.Username, LocationUUID: l.LocationUUID, LastLoginAt: l.At}
	if prev >= 0 {
		p := at(prev)
		r.PreviousLoginAt = &p
	}
	return r
}

const none = -1

// Run runs the suite; open returns an empty store of the test's own.
func Run(t *testing.T, open func(t *testing.T) ingest.Store) {
	t.Run("rules", func(t *testing.T) { rules(t, open) })
	t.Run("every order and batching of the same logins converges", func(t *testing.T) { permutations(t, open(t)) })
	t.Run("a thousand shuffled logins with replays converge", func(t *testing.T) { shuffled(t, open(t)) })
	t.Run("a batch of ten thousand, and its redelivery", func(t *testing.T) { bigBatch(t, open(t)) })
	t.Run("concurrent batches on the same users converge without deadlock", func(t *testing.T) { concurrent(t, open(t)) })
	t.Run("an unknown user is not found", func(t *testing.T) { notFound(t, open(t)) })
}

type step struct {
	batch   []ingest.Login
	returns []ingest.Record // what RecordLogins returns for the batch, in any order
}

func rules(t *testing.T, open func(t *testing.T) ingest.Store) {
	renamed := login("a", "u1", 5)
	renamed.Username, renamed.LocationUUID = "someone-else", "elsewhere"
	nanos := login("a", "u1", 5)
	nanos.At = nanos.At.Add(999 * time.Nanosecond)
	zoned := login("a", "u1", 5)
	zoned.At = zoned.At.In(time.FixedZone("EAT", 3*3600))

	tests := []struct {
		name  string
		steps []step
		final []ingest.Record
	}{
		{"a first login is recorded with no previous login",
			[]step{{[]ingest.Login{login("a", "u1", 1)}, []ingest.Record{rec("a", "u1", 1, none)}}},
			[]ingest.Record{rec("a", "u1", 1, none)}},
		{"a later login moves the last login and keeps the old one as previous",
			[]step{
				{[]ingest.Login{login("a", "u1", 1)}, []ingest.Record{rec("a", "u1", 1, none)}},
				{[]ingest.Login{login("a", "u1", 5)}, []ingest.Record{rec("a", "u1", 5, 1)}},
			},
			[]ingest.Record{rec("a", "u1", 5, 1)}},
		{"an earlier login neither moves anything nor is returned",
			[]step{
				{[]ingest.Login{login("a", "u1", 1)}, []ingest.Record{rec("a", "u1", 1, none)}},
				{[]ingest.Login{login("a", "u1", 5)}, []ingest.Record{rec("a", "u1", 5, 1)}},
				{[]ingest.Login{login("a", "u1", 3)}, nil},
			},
			[]ingest.Record{rec("a", "u1", 5, 1)}},
		{"a redelivered batch returns the very same records, previous included, for republishing",
			[]step{
				{[]ingest.Login{login("a", "u1", 1)}, []ingest.Record{rec("a", "u1", 1, none)}},
				{[]ingest.Login{login("a", "u1", 5), login("a", "u2", 2)}, []ingest.Record{rec("a", "u1", 5, 1), rec("a", "u2", 2, none)}},
				{[]ingest.Login{login("a", "u1", 5), login("a", "u2", 2)}, []ingest.Record{rec("a", "u1", 5, 1), rec("a", "u2", 2, none)}},
			},
			[]ingest.Record{rec("a", "u1", 5, 1), rec("a", "u2", 2, none)}},
		{"a redelivery after a later login is not returned",
			[]step{
				{[]ingest.Login{login("a", "u1", 1)}, []ingest.Record{rec("a", "u1", 1, none)}},
				{[]ingest.Login{login("a", "u1", 5)}, []ingest.Record{rec("a", "u1", 5, 1)}},
				{[]ingest.Login{login("a", "u1", 1)}, nil},
			},
			[]ingest.Record{rec("a", "u1", 5, 1)}},
		{"a login at the same instant under another name changes nothing and returns the stored record",
			[]step{
				{[]ingest.Login{login("a", "u1", 1)}, []ingest.Record{rec("a", "u1", 1, none)}},
				{[]ingest.Login{login("a", "u1", 5)}, []ingest.Record{rec("a", "u1", 5, 1)}},
				{[]ingest.Login{renamed}, []ingest.Record{rec("a", "u1", 5, 1)}},
			},
			[]ingest.Record{rec("a", "u1", 5, 1)}},
		{"duplicates within a batch count once",
			[]step{{[]ingest.Login{login("a", "u1", 2), login("a", "u1", 2), login("a", "u1", 1), login("a", "u1", 2)}, []ingest.Record{rec("a", "u1", 2, none)}}},
			[]ingest.Record{rec("a", "u1", 2, none)}},
		{"within a batch the latest login wins and previous is the stored one, not an earlier login of the batch",
			[]step{
				{[]ingest.Login{login("a", "u1", 1)}, []ingest.Record{rec("a", "u1", 1, none)}},
				{[]ingest.Login{login("a", "u1", 3), login("a", "u1", 7), login("a", "u1", 5)}, []ingest.Record{rec("a", "u1", 7, 1)}},
			},
			[]ingest.Record{rec("a", "u1", 7, 1)}},
		{"times are cut to microseconds, so a redelivered login still equals what was stored",
			[]step{
				{[]ingest.Login{nanos}, []ingest.Record{rec("a", "u1", 5, none)}},
				{[]ingest.Login{nanos}, []ingest.Record{rec("a", "u1", 5, none)}},
				{[]ingest.Login{login("a", "u1", 5)}, []ingest.Record{rec("a", "u1", 5, none)}},
			},
			[]ingest.Record{rec("a", "u1", 5, none)}},
		{"times in another zone are the same instant, returned in UTC",
			[]step{
				{[]ingest.Login{zoned}, []ingest.Record{rec("a", "u1", 5, none)}},
				{[]ingest.Login{login("a", "u1", 5)}, []ingest.Record{rec("a", "u1", 5, none)}},
			},
			[]ingest.Record{rec("a", "u1", 5, none)}},
		{"the same user uuid at two sites is two users",
			[]step{
				{[]ingest.Login{login("a", "u1", 5), login("b", "u1", 2)}, []ingest.Record{rec("a", "u1", 5, none), rec("b", "u1", 2, none)}},
				{[]ingest.Login{login("b", "u1", 3)}, []ingest.Record{rec("b", "u1", 3, 2)}},
			},
			[]ingest.Record{rec("a", "u1", 5, none), rec("b", "u1", 3, 2)}},
		{"an empty batch does nothing",
			[]step{{nil, nil}},
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			for i, st := range tc.steps {
				got := record(t, s, st.batch...)
				if d := diffRecords(got, st.returns); d != "" {
					t.Fatalf("batch %d returned: %s", i+1, d)
				}
			}
			for _, want := range tc.final {
				if d := diffRecords([]ingest.Record{last(t, s, want.Site, want.UserUUID)}, []ingest.Record{want}); d != "" {
					t.Fatalf("stored: %s", d)
				}
			}
		})
	}
}

func record(t *testing.T, s ingest.Store, ls ...ingest.Login) []ingest.Record {
	t.Helper()
	rs, err := s.RecordLogins(context.Background(), ls)
	if err != nil {
		t.Fatalf("RecordLogins: %v", err)
	}
	return rs
}

func last(t *testing.T, s ingest.Store, site, user string) ingest.Record {
	t.Helper()
	r, err := s.LastLogin(context.Background(), site, user)
	if err != nil {
		t.Fatalf("LastLogin(%s, %s): %v", site, user, err)
	}
	return r
}

// sameRecord compares every field, the times as instants and as UTC.
func sameRecord(a, b ingest.Record) bool {
	if a.Site != b.Site || a.UserUUID != b.UserUUID || a.Username != b.Username || a.LocationUUID != b.LocationUUID ||
		!a.LastLoginAt.Equal(b.LastLoginAt) || a.LastLoginAt.Location() != time.UTC {
		return false
	}
	if (a.PreviousLoginAt == nil) != (b.PreviousLoginAt == nil) {
		return false
	}
	return a.PreviousLoginAt == nil || (a.PreviousLoginAt.Equal(*b.PreviousLoginAt) && a.PreviousLoginAt.Location() == time.UTC)
}

func byUser(a, b ingest.Record) int {
	return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.UserUUID, b.UserUUID))
}

// diffRecords compares two sets of records, ignoring order; it returns "" when they match.
func diffRecords(got, want []ingest.Record) string {
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, byUser)
	slices.SortFunc(want, byUser)
	if len(got) == len(want) {
		same := true
		for i := range got {
			same = same && sameRecord(got[i], want[i])
		}
		if same {
			return ""
		}
	}
	return fmt.Sprintf("got %s, want %s", show(got), show(want))
}

func show(rs []ingest.Record) string {
	out := "["
	for i, r := range rs {
		if i > 0 {
			out += ", "
		}
		prev := "none"
		if r.PreviousLoginAt != nil {
			prev = r.PreviousLoginAt.Format(time.RFC3339Nano)
		}
		out += fmt.Sprintf("{%s/%s %s %s at %s previous %s}", r.Site, r.UserUUID, r.Username, r.LocationUUID, r.LastLoginAt.Format(time.RFC3339Nano), prev)
	}
	return out + "]"
}

// model is the contract of RecordLogins written as plainly as possible, one user at a time:
// the oracle the randomised tests compare a store against.
type model map[[2]string]ingest.Record

func (m model) record(logins []ingest.Login) []ingest.Record {
	var out []ingest.Record
	for _, l := range ingest.Coalesce(logins) {
		k := [2]string{l.Site, l.UserUUID}
		cur, ok := m[k]
		switch {
		case !ok:
			cur = ingest.Record{Site: l.Site, UserUUID: l.UserUUID, Username: l.Username, LocationUUID: l.LocationUUID, LastLoginAt: l.At}
		case l.At.After(cur.LastLoginAt):
			prev := cur.LastLoginAt
			cur.PreviousLoginAt = &prev
			cur.Username, cur.LocationUUID, cur.LastLoginAt = l.Username, l.LocationUUID, l.At
		case l.At.Equal(cur.LastLoginAt):
		default:
			continue
		}
		m[k] = cur
		out = append(out, cur)
	}
	return out
}

// permutations runs every order of five logins (two users, one login repeated) cut into
// batches in every possible way: 120 orders x 16 cuts. Each run has users of its own, so
// all runs go through the store together, round by round, in a few calls. Each run must end
// where the in-order run ends (last login, username, location), and return and keep exactly
// what the model says, previous included (which rightly depends on the order).
func permutations(t *testing.T, s ingest.Store) {
	base := []ingest.Login{login("a", "p", 1), login("a", "p", 3), login("a", "p", 4), login("a", "p", 4), login("a", "q", 2)}
	type run struct {
		id      string
		batches [][]ingest.Login
	}
	var runs []run
	for pi, order := range orders(len(base)) {
		for cuts := 0; cuts < 1<<(len(base)-1); cuts++ {
			id := fmt.Sprintf("-%d-%d", pi, cuts)
			var batches [][]ingest.Login
			var cur []ingest.Login
			for i, j := range order {
				l := base[j]
				l.UserUUID += id
				l.Username += id
				cur = append(cur, l)
				// Bit i set: the batch ends after the i-th login.
				if i == len(order)-1 || cuts&(1<<i) != 0 {
					batches = append(batches, cur)
					cur = nil
				}
			}
			runs = append(runs, run{id, batches})
		}
	}
	m := model{}
	for round := 0; ; round++ {
		var batch []ingest.Login
		var want []ingest.Record
		for _, r := range runs {
			if round < len(r.batches) {
				batch = append(batch, r.batches[round]...)
				want = append(want, m.record(r.batches[round])...)
			}
		}
		if batch == nil {
			break
		}
		if d := diffRecords(record(t, s, batch...), want); d != "" {
			t.Fatalf("round %d: %s", round+1, d)
		}
	}
	for _, r := range runs {
		for _, user := range []string{"p", "q"} {
			got := last(t, s, "a", user+r.id)
			if want := m[[2]string{"a", user + r.id}]; !sameRecord(got, want) {
				t.Fatalf("run %s (batches %v): stored %s, model %s", r.id, r.batches, show([]ingest.Record{got}), show([]ingest.Record{want}))
			}
			// Convergence, checked without the model: the in-order run's final state.
			inOrder := map[string]ingest.Record{"p": rec("a", "p", 4, 3), "q": rec("a", "q", 2, none)}[user]
			if !got.LastLoginAt.Equal(inOrder.LastLoginAt) || got.Username != inOrder.Username+r.id || got.LocationUUID != inOrder.LocationUUID {
				t.Fatalf("run %s (batches %v) ended at %s, the in-order run at %s", r.id, r.batches, show([]ingest.Record{got}), show([]ingest.Record{inOrder}))
			}
		}
	}
}

// orders returns every permutation of 0..n-1.
func orders(n int) [][]int {
	var out [][]int
	var walk func(a []int, k int)
	walk = func(a []int, k int) {
		if k == len(a) {
			out = append(out, slices.Clone(a))
			return
		}
		for i := k; i < len(a); i++ {
			a[k], a[i] = a[i], a[k]
			walk(a, k+1)
			a[k], a[i] = a[i], a[k]
		}
	}
	a := make([]int, n)
	for i := range a {
		a[i] = i
	}
	walk(a, 0)
	return out
}

// shuffled feeds the same 1,000 logins of 50 users at two sites in five random orders (each
// under users of its own), in random batch sizes, redelivering a quarter of the batches.
// Every batch must return what the model returns and every shuffle must end with each user's
// latest login.
func shuffled(t *testing.T, s ingest.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ls []ingest.Login
	latest := map[[2]string]int{}
	for i := 0; i < 1000; i++ {
		site, user, h := []string{"a", "b"}[rng.IntN(2)], fmt.Sprintf("u%02d", rng.IntN(50)), rng.IntN(10000)
		ls = append(ls, login(site, user, h))
		if cur, ok := latest[[2]string{site, user}]; !ok || h > cur {
			latest[[2]string{site, user}] = h
		}
	}
	m := model{}
	for shuffle := 0; shuffle < 5; shuffle++ {
		suffix := fmt.Sprintf("-s%d", shuffle)
		mine := slices.Clone(ls)
		for i := range mine {
			mine[i].UserUUID += suffix
		}
		rng.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
		for i := 0; i < len(mine); {
			n := min(1+rng.IntN(64), len(mine)-i)
			batch := mine[i : i+n]
			replays := 1
			if rng.IntN(4) == 0 {
				replays = 2 // a redelivery
			}
			for range replays {
				if d := diffRecords(record(t, s, batch...), m.record(batch)); d != "" {
					t.Fatalf("shuffle %d, logins %d..%d: %s", shuffle, i, i+n, d)
				}
			}
			i += n
		}
		for k, h := range latest {
			got := last(t, s, k[0], k[1]+suffix)
			if !got.LastLoginAt.Equal(at(h)) || got.Username != login(k[0], k[1], h).Username {
				t.Fatalf("shuffle %d: %s/%s ended at %s, want hour %d", shuffle, k[0], k[1], show([]ingest.Record{got}), h)
			}
		}
	}
}

func bigBatch(t *testing.T, s ingest.Store) {
	ls := make([]ingest.Login, 10000)
	want := make([]ingest.Record, len(ls))
	for i := range ls {
		user := fmt.Sprintf("user-%05d", i)
		ls[i] = login("a", user, i%100)
		want[i] = rec("a", user, i%100, none)
	}
	for _, delivery := range []string{"first delivery", "redelivery"} {
		got := record(t, s, ls...)
		if d := diffRecords(got, want); d != "" {
			t.Fatalf("%s returned %d records, want %d: %.500s", delivery, len(got), len(want), d)
		}
	}
	if d := diffRecords([]ingest.Record{last(t, s, "a", "user-09999")}, []ingest.Record{rec("a", "user-09999", 99, none)}); d != "" {
		t.Fatal(d)
	}
}

// concurrent has eight writers send overlapping batches for the same twenty users (each
// batch in a different user order, so a store that locked rows in input order would
// deadlock). Every batch must succeed, each record returned must carry that batch's latest
// login of the user, and every user must end at the latest login of all.
func concurrent(t *testing.T, s ingest.Store) {
	const writers, batches, size, users = 8, 10, 50, 20
	plans := make([][][]ingest.Login, writers)
	latest := map[string]int{}
	for w := range plans {
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		for range batches {
			var b []ingest.Login
			for range size {
				user, h := fmt.Sprintf("u%02d", rng.IntN(users)), rng.IntN(1000)
				b = append(b, login("a", user, h))
				latest[user] = max(latest[user], h)
			}
			plans[w] = append(plans[w], b)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, plan := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for _, b := range plan {
				rs, err := s.RecordLogins(ctx, b)
				if err != nil {
					errs <- err
					return
				}
				batchLatest := map[string]time.Time{}
				for _, l := range ingest.Coalesce(b) {
					batchLatest[l.UserUUID] = l.At
				}
				for _, r := range rs {
					if !r.LastLoginAt.Equal(batchLatest[r.UserUUID]) {
						errs <- fmt.Errorf("returned %s for a batch whose latest login of that user is %s", show([]ingest.Record{r}), batchLatest[r.UserUUID])
						return
					}
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for user, h := range latest {
		if got := last(t, s, "a", user); !got.LastLoginAt.Equal(at(h)) || got.Username != login("a", user, h).Username {
			t.Fatalf("%s ended at %s, want hour %d", user, show([]ingest.Record{got}), h)
		}
	}
}

func notFound(t *testing.T, s ingest.Store) {
	record(t, s, login("a", "u1", 1))
	for _, k := range [][2]string{{"a", "nobody"}, {"b", "u1"}} {
		if _, err := s.LastLogin(context.Background(), k[0], k[1]); !errors.Is(err, ingest.ErrNotFound) {
			t.Fatalf("LastLogin(%s, %s): err = %v, want ErrNotFound", k[0], k[1], err)
		}
	}
}
