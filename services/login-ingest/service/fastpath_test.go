package service

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dormant-dev/dormant/events"
	ingest "github.com/dormant-dev/dormant/services/login-ingest"
)

// TestFastAndSDKPathsHandleTheAuthStreamAlike runs the same messages of the auth stream
// through the consumer's classification twice, with the fast decoder and encoder and with
// the SDK alone, and wants the same batch: the same logins to store, the same failed-login
// events byte for byte, the same dead letters with the same reasons and details.
func TestFastAndSDKPathsHandleTheAuthStreamAlike(t *testing.T) {
	r := newRig(t, filepath.Join(t.TempDir(), "ingest.db"))
	in, err := open(r.ctx, r.deps(nil), r.options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })

	n := 0
	binary := func(site string, edit func(nats.Header)) nats.Header {
		n++
		h := nats.Header{"ce-specversion": {"1.0"}, "ce-id": {fmt.Sprintf("fast-%d", n)}, "ce-source": {"http://openmrs.test/openmrs"},
			"ce-type": {events.TypeUserSession}, "ce-site": {site}, "ce-time": {t0.Format(time.RFC3339)}, "content-type": {"application/json"}}
		if edit != nil {
			edit(h)
		}
		return h
	}
	failure := func(name string, at time.Time) string {
		return fmt.Sprintf(`{"event":"login","status":"failure","username":%q,"occurred_at":%q,"method":"basic","client_ip":"10.0.0.9"}`, name, at.Format(time.RFC3339Nano))
	}
	logout := `{"event":"logout","status":"success","user_uuid":"` + user(3) + `","username":"n","occurred_at":"2026-11-02T09:00:00Z","method":"form"}`
	auth := r.ns.Auth(siteA)
	cases := []struct {
		name    string
		subject string
		h       nats.Header
		data    string
		fast    bool // whether the fast decoder takes it
	}{
		{"a login", auth, binary(siteA, nil), sessionData(user(1), "nurse.jane", h(2)), true},
		{"a login in another zone", auth, binary(siteA, nil), sessionData(user(2), "n", h(2).In(time.FixedZone("EAT", 3*3600))), true},
		{"a login as the SDK's binding sends it", auth, binary(siteA, func(h nats.Header) {
			h["ce-datacontenttype"] = h["content-type"]
			delete(h, "content-type")
		}), sessionData(user(4), "n", h(3)), true},
		{"a failed login", auth, binary(siteA, nil), failure("mallory", h(2)), true},
		{"a failed login in another zone", auth, binary(siteA, nil), failure("mallory", h(2).In(time.FixedZone("EAT", 3*3600))), true},
		{"a failed login with a username JSON escapes", auth, binary(siteA, nil), failure("<b>", h(2)), true},
		{"a logout", auth, binary(siteA, nil), logout, true},
		{"a structured login", auth, nats.Header{"content-type": {events.ContentTypeStructured}}, string(structuredBody(siteA, events.TypeUserSession, "st-1", sessionData(user(5), "n", h(2)))), false},
		{"an escaped username", auth, binary(siteA, nil), sessionData(user(6), `a"b`, h(2)), false},
		{"a login at another site (site_mismatch)", auth, binary(siteB, nil), sessionData(user(7), "n", h(2)), true},
		{"a site nobody configured (unknown_site)", r.ns.Auth(unknown), binary(unknown, nil), sessionData(user(8), "n", h(2)), true},
		{"a login in the future (future_timestamp)", auth, binary(siteA, nil), sessionData(user(9), "n", fixedNow.Add(6*time.Minute)), true},
		{"invalid UTF-8 (malformed)", auth, binary(siteA, nil), sessionData(user(10), "n\xc3\x28", h(2)), false},
		{"a NUL in the username (invalid_data)", auth, binary(siteA, nil), sessionData(user(11), "n\u0000", h(2)), false},
		{"a success without a uuid (invalid_data)", auth, binary(siteA, nil), strings.Replace(sessionData(user(12), "n", h(2)), `"user_uuid":"`+user(12)+`",`, "", 1), false},
		{"a field of the wrong type (invalid_data)", auth, binary(siteA, nil), strings.Replace(sessionData(user(13), "n", h(2)), `"form"`, `7`, 1), false},
		{"a missing ce-id (missing_attribute)", auth, binary(siteA, func(h nats.Header) { delete(h, "ce-id") }), sessionData(user(14), "n", h(2)), false},
		{"a clock tick (unexpected_type)", auth, binary("", func(h nats.Header) { h["ce-type"] = []string{events.TypeClockTick} }), `{"at":"2026-11-02T09:00:00Z","period":"PT1H"}`, false},
		{"a bad site id (invalid_site)", auth, binary("Clinic_A", nil), sessionData(user(15), "n", h(2)), false},
		{"neither binary nor structured (unsupported_mode)", auth, nats.Header{}, "login alice", false},
		{"a body that is not JSON (malformed)", auth, binary(siteA, nil), `{"event":`, false},
	}
	for i, c := range cases {
		if _, ok := events.FastUserSession(c.h, []byte(c.data)); ok != c.fast {
			t.Errorf("%s: the fast decoder takes it: %v, want %v", c.name, ok, c.fast)
		}
		m := nats.NewMsg(c.subject)
		m.Header, m.Data = c.h, []byte(c.data)
		m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("fastpath-%d", i))
		r.publish(m)
	}
	msgs := r.messages(r.ns.StreamAuth(), r.ns.AuthAll())
	if len(msgs) != len(cases) {
		t.Fatalf("read %d messages back, published %d", len(msgs), len(cases))
	}

	fast := in.classifyAll(msgs, fixedNow)
	sdkOnly = true
	defer func() { sdkOnly = false }()
	sdk := in.classifyAll(msgs, fixedNow)

	if len(sdk.logins) != 5 || sdk.failed != 3 || len(sdk.dead) != 12 {
		t.Fatalf("the SDK path found %d logins, %d failures, %d dead letters: the table is not what it says", len(sdk.logins), sdk.failed, len(sdk.dead))
	}
	if got, want := loginsOf(fast.logins), loginsOf(sdk.logins); !reflect.DeepEqual(got, want) {
		t.Errorf("logins\nfast %q\nSDK  %q", got, want)
	}
	if !reflect.DeepEqual(fast.counted, sdk.counted) || fast.failed != sdk.failed {
		t.Errorf("counts: fast %v (%d failed), SDK %v (%d failed)", fast.counted, fast.failed, sdk.counted, sdk.failed)
	}
	if len(fast.dead) != len(sdk.dead) {
		t.Fatalf("%d dead letters on the fast path, %d on the SDK path", len(fast.dead), len(sdk.dead))
	}
	for i := range sdk.dead {
		f, s := fast.dead[i], sdk.dead[i]
		if f.Reason != s.Reason || f.Detail != s.Detail || f.Subject != s.Subject || f.StreamSeq != s.StreamSeq {
			t.Errorf("dead letter %d: fast %s %q, SDK %s %q", i, f.Reason, f.Detail, s.Reason, s.Detail)
		}
	}
	assertSameMsgs(t, fast.outbox, sdk.outbox)
}

// TestFastAndSDKPathsWriteTheSameRecords: the dormant.lastlogin.recorded event of a stored
// record is the same message on either path, for every shape a record takes.
func TestFastAndSDKPathsWriteTheSameRecords(t *testing.T) {
	r := newRig(t, filepath.Join(t.TempDir(), "ingest.db"))
	in, err := open(r.ctx, r.deps(nil), r.options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	prev := h(1)
	records := []ingest.Record{
		{Site: siteA, UserUUID: user(1), Username: "nurse.jane", LocationUUID: user(99), LastLoginAt: h(2), PreviousLoginAt: &prev},
		{Site: siteA, UserUUID: user(2), LastLoginAt: h(2).Add(123456 * time.Microsecond)},
		{Site: siteB, UserUUID: user(3), Username: "zoë", LastLoginAt: h(3)},
		{Site: siteB, UserUUID: user(4), Username: "n", LastLoginAt: h(3).In(time.FixedZone("EAT", 3*3600))},
	}
	var fast, sdk []*nats.Msg
	for _, rec := range records {
		m, err := in.recordMsg(rec)
		if err != nil {
			t.Fatal(err)
		}
		fast = append(fast, m)
	}
	sdkOnly = true
	defer func() { sdkOnly = false }()
	for _, rec := range records {
		m, err := in.recordMsg(rec)
		if err != nil {
			t.Fatal(err)
		}
		sdk = append(sdk, m)
	}
	assertSameMsgs(t, fast, sdk)
}

func loginsOf(ls []ingest.Login) []string {
	var out []string
	for _, l := range ls {
		out = append(out, strings.Join([]string{l.Site, l.UserUUID, l.Username, l.LocationUUID, l.At.Format(time.RFC3339Nano)}, "|"))
	}
	return out
}

func assertSameMsgs(t *testing.T, fast, sdk []*nats.Msg) {
	t.Helper()
	if len(fast) != len(sdk) {
		t.Fatalf("%d messages on the fast path, %d on the SDK path", len(fast), len(sdk))
	}
	for i := range sdk {
		f, s := fast[i], sdk[i]
		if f.Subject != s.Subject || !reflect.DeepEqual(f.Header, s.Header) || string(f.Data) != string(s.Data) {
			t.Errorf("message %d:\nfast %s %v %s\nSDK  %s %v %s", i, f.Subject, f.Header, f.Data, s.Subject, s.Header, s.Data)
		}
	}
}
