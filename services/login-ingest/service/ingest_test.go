package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
)

func h(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }

// TestOrderAndDuplicatesDoNotChangeTheLastLogin: the last login is the latest successful
// login whatever the order of arrival, duplicates (same id, and same instant under another
// id) and batch boundaries; a record event follows each move and none is published twice.
func TestOrderAndDuplicatesDoNotChangeTheLastLogin(t *testing.T) {
	onEachEngine(t, func(t *testing.T, r *rig) {
		u1, u2 := user(1), user(2)
		arrivals := []struct {
			uuid string
			at   time.Time
			id   string
		}{
			{u1, h(3), "e1"}, {u1, h(1), "e2"}, {u2, h(2), "e3"}, // batch 1: u1 out of order
			{u1, h(3), "e1"}, {u1, h(3), "e4"}, {u2, h(1), "e5"}, // batch 2: u1 duplicates, u2 older
			{u1, h(2), "e6"}, {u2, h(5), "e7"}, {u2, h(4), "e8"}, // batch 3: u1 older, u2 moves then older
		}
		for i, a := range arrivals {
			ev := session(t, siteA, events.EventLogin, events.StatusSuccess, a.uuid, "n", a.at, a.id)
			// Re-published ids are dropped by JetStream; publish them with a fresh
			// message id so the consumer does see the duplicate event.
			msg, err := events.ToNATS(r.ns.Auth(siteA), ev)
			if err != nil {
				t.Fatal(err)
			}
			msg.Header.Set(nats.MsgIdHdr, fmt.Sprintf("arrival-%d", i))
			r.publish(msg)
		}
		in, _ := r.start(r.deps(nil), r.options())
		r.settled("ingest-test")

		for uuid, want := range map[string]time.Time{u1: h(3), u2: h(5)} {
			if got := r.lastLogin(in, siteA, uuid); !got.Equal(want) {
				t.Errorf("last login of %s = %s, want %s", uuid, got, want)
			}
		}
		recs := r.recorded(siteA)
		// Each user's record events move strictly forward and end at the last login.
		for uuid, want := range map[string]time.Time{u1: h(3), u2: h(5)} {
			ts := times(recs[uuid])
			increasing := len(ts) > 0
			for i := 1; i < len(ts); i++ {
				increasing = increasing && ts[i].After(ts[i-1])
			}
			if !increasing || !ts[len(ts)-1].Equal(want) {
				t.Errorf("record events of %s carry %v, want strictly increasing up to %s", uuid, ts, want)
			}
		}
	})
}

// TestKillBetweenCommitAndAckLosesNothingAndDuplicatesNoRecord: a consumer dies (its NATS
// connection closes, nothing is acked or naked) after its batch committed; a new consumer on
// the same durable gets the batch again after the ack wait. Every login is stored and
// exactly one record event per moved user is on the stream, whether the first consumer
// died before publishing its records or after.
func TestKillBetweenCommitAndAckLosesNothingAndDuplicatesNoRecord(t *testing.T) {
	for _, stage := range []string{"after commit, before publishing", "after publishing, before acking"} {
		t.Run(stage, func(t *testing.T) {
			onEachEngine(t, func(t *testing.T, r *rig) {
				const users = 5
				for i := range users {
					r.publishEv(r.ns.Auth(siteA), loginEv(t, siteA, user(i), h(i)))
				}
				o := r.options()
				o.BatchSize = users // one batch: the kill hits all of it

				nc := r.dial()
				first, err := New(r.ctx, r.deps(nc), o)
				if err != nil {
					t.Fatal(err)
				}
				killed := make(chan struct{})
				kill := func() error {
					nc.Close()
					close(killed)
					return errors.New("killed")
				}
				if strings.HasPrefix(stage, "after commit") {
					first.hooks.afterCommit = kill
				} else {
					first.hooks.beforeAck = kill
				}
				done := make(chan error, 1)
				go func() { done <- first.Run(r.ctx) }()
				<-killed
				if err := <-done; !errors.Is(err, jetstream.ErrConnectionClosed) {
					t.Fatalf("the killed consumer's Run returned %v, want a closed connection", err)
				}
				// The kill happened after the commit: the logins are stored already.
				if got := r.lastLogin(first, siteA, user(users-1)); !got.Equal(h(users - 1)) {
					t.Fatalf("before the restart the store holds %s, want the committed %s", got, h(users-1))
				}

				second, _ := r.start(r.deps(nil), o)
				r.settled(o.Consumer)
				recs := r.recorded(siteA)
				for i := range users {
					if got := r.lastLogin(second, siteA, user(i)); !got.Equal(h(i)) {
						t.Errorf("last login of user %d = %s, want %s", i, got, h(i))
					}
					if ts := times(recs[user(i)]); len(ts) != 1 || !ts[0].Equal(h(i)) {
						t.Errorf("record events of user %d: %v, want exactly one at %s", i, ts, h(i))
					}
				}
			})
		})
	}
}

// TestRefusedEventsGoToTheDLQWithTheirReason: each kind of bad event lands in the DLQ with
// its reason header and its original payload, counted by reason, while the valid events of
// the same batch are stored.
func TestRefusedEventsGoToTheDLQWithTheirReason(t *testing.T) {
	onEachEngine(t, func(t *testing.T, r *rig) {
		wrongType, err := events.New("/dormant/x/clinic-a", siteA, &events.LastLoginRecorded{UserUUID: user(9), Username: "x", LastLoginAt: h(1)}, "wrong-type", h(1))
		if err != nil {
			t.Fatal(err)
		}
		badUUID := session(t, siteA, events.EventLogin, events.StatusSuccess, user(8), "x", h(1), "bad-uuid")
		badMsg, _ := events.ToNATS(r.ns.Auth(siteA), badUUID)
		badMsg.Data = []byte(strings.Replace(string(badMsg.Data), user(8), "not-a-uuid", 1))
		wrongTypeMsg, _ := events.ToNATS(r.ns.Auth(siteA), wrongType)
		unknownMsg, _ := events.ToNATS(r.ns.Auth(unknown), loginEv(t, unknown, user(7), h(1)))
		mismatchMsg, _ := events.ToNATS(r.ns.Auth(siteB), loginEv(t, siteA, user(6), h(1)))
		futureMsg, _ := events.ToNATS(r.ns.Auth(siteA), loginEv(t, siteA, user(5), fixedNow.Add(6*time.Minute)))
		noIDMsg, _ := events.ToNATS(r.ns.Auth(siteA), loginEv(t, siteA, user(4), h(1)))
		delete(noIDMsg.Header, "ce-id")
		garbage := nats.NewMsg(r.ns.Auth(siteA))
		garbage.Header.Set("Content-Type", "application/cloudevents+json")
		garbage.Data = []byte(`{"specversion": "1.0", "id":`)

		refused := []struct {
			rule, reason string
			msg          *nats.Msg
		}{
			{"an undecodable body is malformed", events.ReasonMalformed, garbage},
			{"a missing attribute is named", events.ReasonMissingAttribute, noIDMsg},
			{"invalid data is refused", events.ReasonInvalidData, badMsg},
			{"another event type does not belong on the auth stream", reasonWrongType, wrongTypeMsg},
			{"an unknown site is refused", reasonUnknownSite, unknownMsg},
			{"a site other than the subject's is refused", reasonSiteMismatch, mismatchMsg},
			{"occurred_at beyond the clock skew is refused", reasonFuture, futureMsg},
		}
		// Valid logins around the bad ones, in the same batches.
		o := r.options()
		o.BatchSize = 20
		r.publishEv(r.ns.Auth(siteA), loginEv(t, siteA, user(1), h(1)))
		for _, c := range refused {
			r.publish(c.msg)
		}
		r.publishEv(r.ns.Auth(siteA), loginEv(t, siteA, user(2), h(2)))
		// Five minutes ahead is within the skew: stored.
		r.publishEv(r.ns.Auth(siteA), loginEv(t, siteA, user(3), fixedNow.Add(5*time.Minute)))

		in, _ := r.start(r.deps(nil), o)
		r.settled(o.Consumer)

		for uuid, want := range map[string]time.Time{user(1): h(1), user(2): h(2), user(3): fixedNow.Add(5 * time.Minute)} {
			if got := r.lastLogin(in, siteA, uuid); !got.Equal(want) {
				t.Errorf("valid login of %s: stored %s, want %s", uuid, got, want)
			}
		}
		for _, uuid := range []string{user(5), user(6), user(7)} {
			for _, site := range []string{siteA, siteB, unknown} {
				if got := r.lastLogin(in, site, uuid); !got.IsZero() {
					t.Errorf("refused login of %s stored at %s: %s", uuid, site, got)
				}
			}
		}

		dead := r.messages(r.ns.StreamDLQ(), r.ns.DLQ("auth"))
		byReason := map[string][]byte{}
		for _, m := range dead {
			byReason[m.Headers().Get(natsbus.HeaderDLQReason)] = m.Data()
			if m.Headers().Get(natsbus.HeaderDLQDetail) == "" || m.Headers().Get(natsbus.HeaderDLQOriginalSeq) == "" {
				t.Errorf("dead letter %s lacks its detail or original sequence: %v", m.Headers().Get(natsbus.HeaderDLQReason), m.Headers())
			}
		}
		if len(dead) != len(refused) {
			t.Errorf("%d dead letters, want %d", len(dead), len(refused))
		}
		for _, c := range refused {
			t.Run(c.rule, func(t *testing.T) {
				data, ok := byReason[c.reason]
				if !ok {
					t.Fatalf("no dead letter with reason %s", c.reason)
				}
				if string(data) != string(c.msg.Data) {
					t.Errorf("dead letter payload %q, want the original %q", data, c.msg.Data)
				}
				if n := testutil.ToFloat64(in.metrics.deadLetters.WithLabelValues(c.reason)); n != 1 {
					t.Errorf("dormant_ingest_dead_letters_total{reason=%q} = %v, want 1", c.reason, n)
				}
			})
		}
	})
}

// TestFailedLoginsAndLogoutsNeverMoveALastLogin: a failed login publishes a failed-login
// record (username, no user uuid: OpenMRS sends none) and a logout is counted; neither
// touches the stored last login nor emits a last-login record.
func TestFailedLoginsAndLogoutsNeverMoveALastLogin(t *testing.T) {
	onEachEngine(t, func(t *testing.T, r *rig) {
		u := user(1)
		r.publishEv(r.ns.Auth(siteA), loginEv(t, siteA, u, h(1)))
		r.publishEv(r.ns.Auth(siteA), session(t, siteA, events.EventLogin, events.StatusFailure, "", "name-0001", h(2), "fail-1"))
		r.publishEv(r.ns.Auth(siteA), session(t, siteA, events.EventLogout, events.StatusSuccess, u, "name-0001", h(3), "logout-1"))
		r.publishEv(r.ns.Auth(siteA), session(t, siteA, events.EventLogin, events.StatusFailure, "", "nobody", h(4), "fail-2"))

		in, _ := r.start(r.deps(nil), r.options())
		r.settled("ingest-test")

		if got := r.lastLogin(in, siteA, u); !got.Equal(h(1)) {
			t.Errorf("last login = %s, want the successful login's %s", got, h(1))
		}
		if ts := times(r.recorded(siteA)[u]); len(ts) != 1 {
			t.Errorf("last-login records %v, want only the successful login's", ts)
		}
		failed := r.emitted(r.ns.StreamRecords(), r.ns.FailedLogin(siteA))
		var names []string
		for _, ev := range failed {
			d, err := events.DecodeAs[*events.LoginFailed](ev)
			if err != nil {
				t.Fatal(err)
			}
			if d.UserUUID != "" {
				t.Errorf("failed-login record carries user uuid %q", d.UserUUID)
			}
			names = append(names, d.Username)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"name-0001", "nobody"}) {
			t.Errorf("failed-login records for %v, want name-0001 and nobody", names)
		}
		for outcome, want := range map[string]float64{outcomeRecorded: 1, outcomeFailed: 2, outcomeLogout: 1} {
			if got := testutil.ToFloat64(in.metrics.events.WithLabelValues(siteA, outcome)); got != want {
				t.Errorf("dormant_ingest_events_total{outcome=%q} = %v, want %v", outcome, got, want)
			}
		}
		if got := testutil.ToFloat64(in.metrics.eventsOut.WithLabelValues(events.TypeLoginFailed)); got != 2 {
			t.Errorf("failed-login records counted %v, want 2", got)
		}
	})
}

// TestGracefulShutdownFinishesTheBatchInFlight: shutdown that begins while a batch is being
// committed lets it commit, publish and ack before Run returns.
func TestGracefulShutdownFinishesTheBatchInFlight(t *testing.T) {
	onEachEngine(t, func(t *testing.T, r *rig) {
		for i := range 3 {
			r.publishEv(r.ns.Auth(siteA), loginEv(t, siteA, user(i), h(i)))
		}
		o := r.options()
		o.AckWait = time.Minute // a redelivery could not hide a missing ack
		in, err := New(r.ctx, r.deps(nil), o)
		if err != nil {
			t.Fatal(err)
		}
		inFlight, release := make(chan struct{}), make(chan struct{})
		in.hooks.afterCommit = func() error {
			close(inFlight)
			<-release
			in.hooks.afterCommit = nil
			return nil
		}
		ctx, cancel := context.WithCancel(r.ctx)
		done := make(chan error, 1)
		go func() { done <- in.Run(ctx) }()
		<-inFlight
		cancel()
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		c, err := r.js.Consumer(r.ctx, r.ns.StreamAuth(), o.Consumer)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(r.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.AckFloor.Stream != 3 || info.NumAckPending != 0 {
			t.Errorf("after shutdown: ack floor %d, %d unacked; want all 3 acked", info.AckFloor.Stream, info.NumAckPending)
		}
		if n := len(r.recorded(siteA)); n != 3 {
			t.Errorf("%d users have record events, want 3", n)
		}
	})
}
