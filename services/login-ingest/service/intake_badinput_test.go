package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
)

// The bad-input tables of login-ingest's two entry points: the HTTP intake and the auth
// stream. Every hostile or broken input gets its answer (a 4xx, or a dead letter with its
// reason), the service keeps going (a valid login sent after it is stored), and what was
// stored before does not move.

// storedUser holds the last login every case reads back: h(5), stored before the first case.
var storedUser = user(9000)

const storedAt = 5 // hours after t0

// structuredBody renders one session event in structured mode with data given as raw JSON,
// so the data can be anything at all.
func structuredBody(site, typ, id, data string) []byte {
	return []byte(fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"http://openmrs.test/openmrs","type":%q,"site":%q,"datacontenttype":"application/json","data":%s}`,
		id, typ, site, data))
}

// sessionData is the data of a successful login of uuid with username at, as raw JSON. The
// username goes in byte for byte (json.Marshal would mend invalid UTF-8), escaped only where
// JSON requires it.
func sessionData(uuid, username string, at time.Time) string {
	b, _ := json.Marshal(map[string]string{"event": "login", "status": "success", "user_uuid": uuid,
		"username": "\x00USERNAME\x00", "occurred_at": at.UTC().Format(time.RFC3339Nano), "method": "form"})
	name := strings.NewReplacer(`"`, `\"`, `\`, `\\`, "\x00", `\u0000`).Replace(username)
	return strings.Replace(string(b), `\u0000USERNAME\u0000`, name, 1)
}

// deep nests n arrays: beyond encoding/json's depth limit of 10000.
func deep(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// binaryHeaders are the Ce- headers of a valid binary-mode login; edit drops or changes some.
func binaryHeaders(edit func(http.Header)) http.Header {
	h := http.Header{
		"Ce-Specversion": {"1.0"}, "Ce-Id": {"bin-1"}, "Ce-Source": {"http://openmrs.test/openmrs"},
		"Ce-Type": {events.TypeUserSession}, "Ce-Site": {siteA}, "Ce-Time": {t0.Format(time.RFC3339)},
		"Content-Type": {"application/json"},
	}
	if edit != nil {
		edit(h)
	}
	return h
}

// rawPost sends body to the intake and returns the status and decoded answer.
func rawPost(t *testing.T, url, token string, header http.Header, body io.Reader) (int, intakeResponse) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out intakeResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer %s is not JSON: %q", resp.Status, raw)
	}
	if resp.StatusCode >= 400 && out.Error == "" {
		t.Errorf("answer %s says nothing of why: %q", resp.Status, raw)
	}
	return resp.StatusCode, out
}

// hiddenLength hides a body's length from net/http, so it is sent chunked and the server
// cannot refuse it on Content-Length alone.
type hiddenLength struct{ r io.Reader }

func (h hiddenLength) Read(p []byte) (int, error) { return h.r.Read(p) }

// badInputRig is a running Ingest with one stored last login, and the checks every case ends with.
type badInputRig struct {
	*rig
	in    *Ingest
	probe int
}

func newBadInputRig(t *testing.T, r *rig, o Options) *badInputRig {
	in, _ := r.start(r.deps(nil), o)
	b := &badInputRig{rig: r, in: in}
	r.publishEv(r.ns.Auth(siteA), loginEv(t, siteA, storedUser, h(storedAt)))
	waitFor(t, "the first login to be stored", func() bool { return r.lastLogin(in, siteA, storedUser).Equal(h(storedAt)) })
	return b
}

func (b *badInputRig) deadLetters() []*nats.Msg {
	var out []*nats.Msg
	for _, m := range b.messages(b.ns.StreamDLQ(), b.ns.DLQ("auth")) {
		out = append(out, &nats.Msg{Header: m.Headers(), Data: m.Data()})
	}
	return out
}

// after checks what must hold after any bad input: the dead letters it added (one with
// reason wantDLQ, or none), a valid login sent next is stored, and the stored one is unchanged.
func (b *badInputRig) after(t *testing.T, dlqBefore int, wantDLQ string, send func(cloudevents.Event)) {
	t.Helper()
	b.probe++
	probe := user(8000 + b.probe)
	send(loginEv(t, siteA, probe, h(1)))
	waitFor(t, "a valid login after the bad input to be stored", func() bool { return b.lastLogin(b.in, siteA, probe).Equal(h(1)) })
	want := dlqBefore
	if wantDLQ != "" {
		want++
		waitFor(t, "the dead letter", func() bool { return len(b.deadLetters()) >= want })
	}
	dead := b.deadLetters()
	if len(dead) != want {
		t.Fatalf("the DLQ grew by %d, want %d", len(dead)-dlqBefore, want-dlqBefore)
	}
	if wantDLQ != "" {
		d := dead[len(dead)-1]
		if got := d.Header.Get(natsbus.HeaderDLQReason); got != wantDLQ {
			t.Errorf("dead letter reason %q (%s), want %q", got, d.Header.Get(natsbus.HeaderDLQDetail), wantDLQ)
		}
		if d.Header.Get(natsbus.HeaderDLQDetail) == "" {
			t.Error("the dead letter does not say what was wrong")
		}
	}
	if got := b.lastLogin(b.in, siteA, storedUser); !got.Equal(h(storedAt)) {
		t.Fatalf("the stored last login moved to %s, want %s", got, h(storedAt))
	}
}

// TestBadInputAtTheHTTPIntake: the hook's endpoint answers each hostile or broken request
// with the 4xx that says why (and keeps refused events in the DLQ), stores what is valid
// verbatim, keeps serving, and never moves a stored last login.
func TestBadInputAtTheHTTPIntake(t *testing.T) {
	onEachEngine(t, func(t *testing.T, r *rig) {
		o := r.options()
		o.MaxBodyBytes = 64 << 10
		b := newBadInputRig(t, r, o)
		url := intakeServer(t, b.in)
		structured := http.Header{"Content-Type": {events.ContentTypeStructured}}
		batch := http.Header{"Content-Type": {events.ContentTypeBatch}}
		login := func(uuid, username string, at time.Time) []byte {
			return structuredBody(siteA, events.TypeUserSession, events.DerivedID("bad", uuid, username, at.String()), sessionData(uuid, username, at))
		}
		const sqlInjection = `x'); DROP TABLE last_logins; --`
		const htmlInjection = `<script>alert(1)</script>`

		cases := []struct {
			rule   string
			token  string // "" = tokenA; "-" = none
			header http.Header
			body   func() io.Reader
			status int
			dlq    string // reason of the one dead letter the case leaves; "" for none
			check  func(t *testing.T, resp intakeResponse)
		}{
			{rule: "a body over the limit is 413 and nothing of it is accepted", header: batch,
				body: func() io.Reader { return bytes.NewReader(batchBody(t, 300)) }, status: http.StatusRequestEntityTooLarge},
			{rule: "a body over the limit sent chunked (no Content-Length) is 413", header: batch,
				body: func() io.Reader { return hiddenLength{bytes.NewReader(batchBody(t, 300))} }, status: http.StatusRequestEntityTooLarge},
			{rule: "invalid UTF-8 in a username is 400 and dead-lettered as malformed", header: structured,
				body: func() io.Reader { return bytes.NewReader(login(user(10), "nurse\xff\xfe", h(2))) }, status: http.StatusBadRequest, dlq: events.ReasonMalformed},
			{rule: "a NUL character in a username is 400 invalid_data (no database takes it)", header: structured,
				body: func() io.Reader { return bytes.NewReader(login(user(11), "nurse\u0000x", h(2))) }, status: http.StatusBadRequest, dlq: events.ReasonInvalidData},
			{rule: "JSON nested beyond the decoder's depth is 400 malformed", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(structuredBody(siteA, events.TypeUserSession, "deep-1", deep(12000)))
				}, status: http.StatusBadRequest},
			{rule: "deep JSON in one event of a batch is 400 malformed for all of it", header: batch,
				body: func() io.Reader {
					return strings.NewReader("[" + string(login(user(12), "ok", h(2))) + "," + string(structuredBody(siteA, events.TypeUserSession, "deep-2", deep(12000))) + "]")
				}, status: http.StatusBadRequest, check: func(t *testing.T, resp intakeResponse) {
					if len(resp.Rejected) != 1 || resp.Rejected[0].Reason != events.ReasonMalformed || resp.Accepted != 0 {
						t.Errorf("answer %+v, want malformed and nothing accepted", resp)
					}
				}},
			{rule: "a number where the username belongs is 400 naming the field", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(structuredBody(siteA, events.TypeUserSession, "num-1", `{"event":"login","status":"success","user_uuid":"`+user(13)+`","username":42,"occurred_at":"2026-11-02T09:00:00Z","method":"form"}`))
				}, status: http.StatusBadRequest, dlq: events.ReasonInvalidData, check: wantField("username")},
			{rule: "a boolean where the status belongs is 400 naming the field", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(structuredBody(siteA, events.TypeUserSession, "bool-1", `{"event":"login","status":true,"user_uuid":"`+user(14)+`","username":"n","occurred_at":"2026-11-02T09:00:00Z","method":"form"}`))
				}, status: http.StatusBadRequest, dlq: events.ReasonInvalidData, check: wantField("status")},
			{rule: "data that is a string, not an object, is 400", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(structuredBody(siteA, events.TypeUserSession, "str-1", `"login"`))
				}, status: http.StatusBadRequest, dlq: events.ReasonInvalidData, check: wantField("data")},
			{rule: "an occurred_at that is not a time is 400", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(structuredBody(siteA, events.TypeUserSession, "time-1", `{"event":"login","status":"success","user_uuid":"`+user(15)+`","username":"n","occurred_at":"yesterday","method":"form"}`))
				}, status: http.StatusBadRequest, dlq: events.ReasonInvalidData},
			{rule: "an SQL injection string as username is stored verbatim, as data", header: structured,
				body: func() io.Reader { return bytes.NewReader(login(user(16), sqlInjection, h(2))) }, status: http.StatusAccepted,
				check: func(t *testing.T, _ intakeResponse) { wantStoredName(t, b, user(16), sqlInjection) }},
			{rule: "an SQL injection string longer than any OpenMRS username is 400", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(login(user(17), `' OR '1'='1'; DELETE FROM last_logins WHERE ''=''; --`, h(2)))
				}, status: http.StatusBadRequest, dlq: events.ReasonInvalidData, check: wantField("username")},
			{rule: "an HTML injection string as username is stored verbatim (pages escape it)", header: structured,
				body: func() io.Reader { return bytes.NewReader(login(user(18), htmlInjection, h(2))) }, status: http.StatusAccepted,
				check: func(t *testing.T, _ intakeResponse) { wantStoredName(t, b, user(18), htmlInjection) }},
			{rule: "an event forged for another configured site is 403 and nothing is accepted", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(structuredBody(siteB, events.TypeUserSession, "forged-1", sessionData(storedUser, "n", h(20))))
				}, status: http.StatusForbidden},
			{rule: "an event for a site nobody configured is 403", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(structuredBody(unknown, events.TypeUserSession, "forged-2", sessionData(storedUser, "n", h(20))))
				}, status: http.StatusForbidden},
			{rule: "a site id with subject wildcards is 403", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(structuredBody("clinic-a.>", events.TypeUserSession, "forged-3", sessionData(storedUser, "n", h(20))))
				}, status: http.StatusForbidden},
			{rule: "a batch forging one event's site is 403 for all of it", header: batch,
				body: func() io.Reader {
					return strings.NewReader("[" + string(login(user(19), "ok", h(2))) + "," + string(structuredBody(siteB, events.TypeUserSession, "forged-4", sessionData(storedUser, "n", h(20)))) + "]")
				}, status: http.StatusForbidden},
			{rule: "a login later than now plus the skew is accepted at the door, then dead-lettered and never stored", header: structured,
				body: func() io.Reader { return bytes.NewReader(login(storedUser, "n", fixedNow.Add(time.Hour))) }, status: http.StatusAccepted, dlq: reasonFuture},
			{rule: "a login in year 9999 is dead-lettered as future", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(login(storedUser, "n", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)))
				}, status: http.StatusAccepted, dlq: reasonFuture},
			{rule: "an ancient login never moves a newer last login back", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(login(storedUser, "n", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)))
				}, status: http.StatusAccepted},
			{rule: "the zero time is no time: 400", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(login(user(20), "n", time.Time{}))
				}, status: http.StatusBadRequest, dlq: events.ReasonInvalidData, check: wantField("occurred_at")},
			{rule: "a huge batch within the limit is accepted whole", header: batch,
				body: func() io.Reader { return bytes.NewReader(batchBody(t, 120)) }, status: http.StatusAccepted,
				check: func(t *testing.T, resp intakeResponse) {
					if resp.Accepted != 120 {
						t.Errorf("accepted %d of 120", resp.Accepted)
					}
				}},
			{rule: "an empty batch claims nothing", header: batch, body: func() io.Reader { return strings.NewReader("[]") }, status: http.StatusAccepted},
			{rule: "a batch that is not an array is 400 malformed", header: batch,
				body: func() io.Reader { return bytes.NewReader(login(user(21), "n", h(2))) }, status: http.StatusBadRequest,
				check: func(t *testing.T, resp intakeResponse) {
					if len(resp.Rejected) != 1 || resp.Rejected[0].Reason != events.ReasonMalformed {
						t.Errorf("rejected %+v, want malformed", resp.Rejected)
					}
				}},
			{rule: "binary mode without Ce-Id is 400 missing_attribute",
				header: binaryHeaders(func(h http.Header) { h.Del("Ce-Id") }),
				body:   func() io.Reader { return strings.NewReader(sessionData(user(22), "n", h(2))) }, status: http.StatusBadRequest,
				check: func(t *testing.T, resp intakeResponse) {
					if len(resp.Rejected) != 1 || resp.Rejected[0].Reason != events.ReasonMissingAttribute {
						t.Errorf("rejected %+v, want missing_attribute", resp.Rejected)
					}
				}},
			{rule: "binary mode without Ce-Specversion is 400",
				header: binaryHeaders(func(h http.Header) { h.Del("Ce-Specversion") }),
				body:   func() io.Reader { return strings.NewReader(sessionData(user(23), "n", h(2))) }, status: http.StatusBadRequest},
			{rule: "binary mode with specversion 0.3 is 400",
				header: binaryHeaders(func(h http.Header) { h.Set("Ce-Specversion", "0.3") }),
				body:   func() io.Reader { return strings.NewReader(sessionData(user(24), "n", h(2))) }, status: http.StatusBadRequest},
			{rule: "binary mode with a Ce-Time that is not RFC 3339 is 400",
				header: binaryHeaders(func(h http.Header) { h.Set("Ce-Time", "23/11/2026") }),
				body:   func() io.Reader { return strings.NewReader(sessionData(user(25), "n", h(2))) }, status: http.StatusBadRequest},
			{rule: "an extra Ce- header is an extension and does no harm",
				header: binaryHeaders(func(h http.Header) { h.Set("Ce-Id", "bin-extra"); h.Set("Ce-Color", "red") }),
				body:   func() io.Reader { return strings.NewReader(sessionData(user(26), "n", h(2))) }, status: http.StatusAccepted},
			{rule: "a Ce- header that is no CloudEvents attribute name is 400 malformed",
				header: binaryHeaders(func(h http.Header) { h.Set("Ce-Id", "bin-badname"); h.Set("Ce-X-Forwarded", "1") }),
				body:   func() io.Reader { return strings.NewReader(sessionData(user(35), "n", h(2))) }, status: http.StatusBadRequest,
				check: func(t *testing.T, resp intakeResponse) {
					if len(resp.Rejected) != 1 || resp.Rejected[0].Reason != events.ReasonMalformed {
						t.Errorf("rejected %+v, want malformed", resp.Rejected)
					}
				}},
			{rule: "binary mode with XML data is 400 unsupported_mode",
				header: binaryHeaders(func(h http.Header) { h.Set("Ce-Id", "bin-xml"); h.Set("Content-Type", "application/xml") }),
				body:   func() io.Reader { return strings.NewReader(`<login user="x"/>`) }, status: http.StatusBadRequest, dlq: events.ReasonUnsupportedMode},
			{rule: "binary mode with no body is 400 invalid_data",
				header: binaryHeaders(func(h http.Header) { h.Set("Ce-Id", "bin-empty") }),
				body:   func() io.Reader { return http.NoBody }, status: http.StatusBadRequest, dlq: events.ReasonInvalidData, check: wantField("data")},
			{rule: "text/plain with no Ce- headers is 400 unsupported_mode", header: http.Header{"Content-Type": {"text/plain"}},
				body: func() io.Reader { return strings.NewReader("alice logged in") }, status: http.StatusBadRequest,
				check: func(t *testing.T, resp intakeResponse) {
					if len(resp.Rejected) != 1 || resp.Rejected[0].Reason != events.ReasonUnsupportedMode {
						t.Errorf("rejected %+v, want unsupported_mode", resp.Rejected)
					}
				}},
			{rule: "no Content-Type and no Ce- headers is 400", header: http.Header{},
				body: func() io.Reader { return bytes.NewReader(login(user(27), "n", h(2))) }, status: http.StatusBadRequest},
			{rule: "a structured body that is not JSON is 400 malformed", header: structured,
				body: func() io.Reader { return strings.NewReader(`{"specversion":"1.0",`) }, status: http.StatusBadRequest},
			{rule: "an unknown event type is 400 unknown_type", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(structuredBody(siteA, "org.openmrs.user.deleted", "type-1", sessionData(user(28), "n", h(2))))
				}, status: http.StatusBadRequest, dlq: events.ReasonUnknownType},
			{rule: "a contract type that does not belong on the intake is 400 unexpected_type", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(structuredBody(siteA, events.TypeLastLoginRecorded, "type-2", `{"user_uuid":"`+storedUser+`","username":"n","last_login_at":"2026-11-03T00:00:00Z","previous_login_at":null}`))
				}, status: http.StatusBadRequest, dlq: reasonWrongType},
			{rule: "a failed login carrying a user uuid is 400 invalid_data", header: structured,
				body: func() io.Reader {
					return bytes.NewReader(structuredBody(siteA, events.TypeUserSession, "fail-1", `{"event":"login","status":"failure","user_uuid":"`+user(29)+`","username":"n","occurred_at":"2026-11-02T09:00:00Z","method":"form"}`))
				}, status: http.StatusBadRequest, dlq: events.ReasonInvalidData, check: wantField("user_uuid")},
			{rule: "a Basic Authorization header is 401", token: "-", header: http.Header{"Content-Type": {events.ContentTypeStructured}, "Authorization": {"Basic YWRtaW46QWRtaW4xMjM="}},
				body: func() io.Reader { return bytes.NewReader(login(storedUser, "n", h(20))) }, status: http.StatusUnauthorized},
			{rule: "a 10 KB token is 401", token: strings.Repeat(tokenA, 400), header: structured,
				body: func() io.Reader { return bytes.NewReader(login(storedUser, "n", h(20))) }, status: http.StatusUnauthorized},
		}
		for _, c := range cases {
			t.Run(c.rule, func(t *testing.T) {
				before := len(b.deadLetters())
				token := c.token
				switch token {
				case "":
					token = tokenA
				case "-":
					token = ""
				}
				status, resp := rawPost(t, url, token, c.header, c.body())
				if status != c.status {
					t.Fatalf("answer %d %+v, want %d", status, resp, c.status)
				}
				if status >= 400 && status != http.StatusBadRequest && resp.Accepted != 0 {
					t.Errorf("a %d claims %d accepted", status, resp.Accepted)
				}
				if c.check != nil {
					c.check(t, resp)
				}
				b.after(t, before, c.dlq, func(ev cloudevents.Event) {
					body, _ := json.Marshal(ev)
					if st, resp := rawPost(t, url, tokenA, structured, bytes.NewReader(body)); st != http.StatusAccepted {
						t.Fatalf("a valid login after the bad input: %d %+v", st, resp)
					}
				})
			})
		}
	})
}

// TestBadInputOnTheAuthStream: what other publishers put on the auth stream goes through
// the same rules; every refused message becomes one dead letter with its reason, and the
// consumer keeps consuming.
func TestBadInputOnTheAuthStream(t *testing.T) {
	onEachEngine(t, func(t *testing.T, r *rig) {
		b := newBadInputRig(t, r, r.options())
		n := 0
		msg := func(subject string, header nats.Header, data string) *nats.Msg {
			n++
			m := nats.NewMsg(subject)
			m.Header = header
			m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("bad-%d", n))
			m.Data = []byte(data)
			return m
		}
		binary := func(site, typ string) nats.Header {
			return nats.Header{"ce-specversion": {"1.0"}, "ce-id": {fmt.Sprintf("nats-bad-%d", n)}, "ce-source": {"/publisher"},
				"ce-type": {typ}, "ce-site": {site}, "content-type": {"application/json"}}
		}
		auth := r.ns.Auth(siteA)
		cases := []struct {
			rule string
			msg  func() *nats.Msg
			dlq  string
		}{
			{"a body that is not JSON is dead-lettered as malformed", func() *nats.Msg {
				return msg(auth, nats.Header{"content-type": {events.ContentTypeStructured}}, `{"specversion":`)
			}, events.ReasonMalformed},
			{"neither binary nor structured is unsupported_mode", func() *nats.Msg { return msg(auth, nats.Header{}, "login alice") }, events.ReasonUnsupportedMode},
			{"invalid UTF-8 in the data is malformed", func() *nats.Msg {
				return msg(auth, binary(siteA, events.TypeUserSession), sessionData(user(30), "n\xc3\x28", h(2)))
			}, events.ReasonMalformed},
			{"a NUL in the username is invalid_data", func() *nats.Msg {
				return msg(auth, binary(siteA, events.TypeUserSession), sessionData(user(31), "n\u0000", h(2)))
			}, events.ReasonInvalidData},
			{"deep JSON is malformed", func() *nats.Msg { return msg(auth, binary(siteA, events.TypeUserSession), `{"a":`+deep(12000)+`}`) }, events.ReasonMalformed},
			{"a wrong type for a field is invalid_data", func() *nats.Msg {
				return msg(auth, binary(siteA, events.TypeUserSession), `{"event":"login","status":"success","user_uuid":["`+user(32)+`"],"username":"n","occurred_at":"2026-11-02T09:00:00Z","method":"form"}`)
			}, events.ReasonInvalidData},
			{"a missing ce-id is missing_attribute", func() *nats.Msg {
				hd := binary(siteA, events.TypeUserSession)
				hd.Del("ce-id")
				return msg(auth, hd, sessionData(user(33), "n", h(2)))
			}, events.ReasonMissingAttribute},
			{"an unknown type is unknown_type", func() *nats.Msg { return msg(auth, binary(siteA, "org.example.other"), `{}`) }, events.ReasonUnknownType},
			{"a clock tick on the auth stream is unexpected_type", func() *nats.Msg {
				return msg(auth, binary("", events.TypeClockTick), `{"at":"2026-11-02T09:00:00Z","period":"PT1H"}`)
			}, reasonWrongType},
			{"an event forged for another site inside this site's subject is site_mismatch", func() *nats.Msg {
				return msg(auth, binary(siteB, events.TypeUserSession), sessionData(storedUser, "n", h(20)))
			}, reasonSiteMismatch},
			{"a site nobody configured is unknown_site", func() *nats.Msg {
				return msg(r.ns.Auth(unknown), binary(unknown, events.TypeUserSession), sessionData(storedUser, "n", h(20)))
			}, reasonUnknownSite},
			{"a site id outside [a-z0-9-] is invalid_site", func() *nats.Msg {
				return msg(auth, binary("Clinic_A", events.TypeUserSession), sessionData(storedUser, "n", h(20)))
			}, events.ReasonInvalidSite},
			{"a login beyond the clock skew is future_timestamp and never stored", func() *nats.Msg {
				return msg(auth, binary(siteA, events.TypeUserSession), sessionData(storedUser, "n", fixedNow.Add(6*time.Minute)))
			}, reasonFuture},
			{"a username of 10,000 characters is invalid_data", func() *nats.Msg {
				return msg(auth, binary(siteA, events.TypeUserSession), sessionData(user(34), strings.Repeat("a", 10000), h(2)))
			}, events.ReasonInvalidData},
		}
		for _, c := range cases {
			t.Run(c.rule, func(t *testing.T) {
				before := len(b.deadLetters())
				r.publish(c.msg())
				b.after(t, before, c.dlq, func(ev cloudevents.Event) { r.publishEv(auth, ev) })
			})
		}
	})
}

// batchBody is a batch of n valid logins of fresh users.
func batchBody(t *testing.T, n int) []byte {
	evs := make([]cloudevents.Event, n)
	for i := range evs {
		evs[i] = loginEv(t, siteA, user(20000+i), h(2))
	}
	body, _, err := events.ToHTTPBatch(evs)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func wantField(field string) func(*testing.T, intakeResponse) {
	return func(t *testing.T, resp intakeResponse) {
		t.Helper()
		if len(resp.Rejected) != 1 || resp.Rejected[0].Field != field {
			t.Errorf("rejected %+v, want the field %s named", resp.Rejected, field)
		}
	}
}

// wantStoredName waits for uuid's login and checks the username was stored byte for byte.
func wantStoredName(t *testing.T, b *badInputRig, uuid, name string) {
	t.Helper()
	waitFor(t, "the login to be stored", func() bool { return !b.lastLogin(b.in, siteA, uuid).IsZero() })
	rec, err := b.in.Store().LastLogin(b.ctx, siteA, uuid)
	if err != nil || rec.Username != name {
		t.Fatalf("stored %+v, %v; want username %q verbatim", rec, err, name)
	}
}
