package service

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
	"github.com/dormant-dev/dormant/services/policy"
)

// TestBadInputOnTheRecordsStream: every broken or hostile record on the records stream becomes
// one dead letter with its reason; the projection row already stored does not change, and a
// valid record published after the bad one is still applied.
func TestBadInputOnTheRecordsStream(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			h := newHarness(t, e.open(t), `sites:
  - id: clinic-a
  - id: clinic-b
`)
			const site = "clinic-a"
			kept := "5e0c1a2b-0000-4000-8000-000000000001"
			created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			lastLogin := time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)
			h.sync(site, events.UserSynced{UserUUID: kept, Username: "kept", GivenName: "Kept", FamilyName: "Row",
				Roles: []string{"Nurse"}, Properties: map[string]string{"ward": "3"}, CreatedAt: created})
			h.login(site, kept, "kept", lastLogin)
			h.settle()
			before, err := h.p.Store().User(h.ctx, site, kept)
			if err != nil {
				t.Fatal(err)
			}

			n := 0
			binary := func(site, typ string) nats.Header {
				n++
				return nats.Header{"ce-specversion": {"1.0"}, "ce-id": {fmt.Sprintf("bad-record-%d", n)}, "ce-source": {"/dormant/login-ingest/" + site},
					"ce-type": {typ}, "ce-site": {site}, "content-type": {"application/json"}, nats.MsgIdHdr: {fmt.Sprintf("bad-record-%d", n)}}
			}
			lastlogin := h.ns.LastLogin(site)
			synced := h.ns.UserSynced(site)
			userJSON := func(field, value string) string {
				fields := map[string]string{"user_uuid": `"` + kept + `"`, "username": `"kept"`, "roles": `["Nurse"]`,
					"created_at": `"2026-01-01T00:00:00Z"`, "retired": "false", "properties": `{}`}
				fields[field] = value
				var parts []string
				for k, v := range fields {
					parts = append(parts, fmt.Sprintf("%q:%s", k, v))
				}
				return "{" + strings.Join(parts, ",") + "}"
			}
			manyRoles := `["r0"` + strings.Repeat(`,"r"`, events.MaxItems) + `]`
			cases := []struct {
				rule    string
				subject string
				header  nats.Header
				data    string
				dlq     string
			}{
				{"a lastlogin record that is not JSON is malformed", lastlogin, nats.Header{"content-type": {events.ContentTypeStructured}}, `{"specversion":"1.0",`, events.ReasonMalformed},
				{"a lastlogin record whose user is no uuid is invalid_data", lastlogin, binary(site, events.TypeLastLoginRecorded),
					`{"user_uuid":"' OR 1=1 --","username":"kept","last_login_at":"2027-01-01T00:00:00Z","previous_login_at":null}`, events.ReasonInvalidData},
				{"a lastlogin record whose previous login is after its last is invalid_data", lastlogin, binary(site, events.TypeLastLoginRecorded),
					`{"user_uuid":"` + kept + `","username":"kept","last_login_at":"2027-01-01T00:00:00Z","previous_login_at":"2028-01-01T00:00:00Z"}`, events.ReasonInvalidData},
				{"a lastlogin record whose time is a number is invalid_data", lastlogin, binary(site, events.TypeLastLoginRecorded),
					`{"user_uuid":"` + kept + `","username":"kept","last_login_at":1798761600}`, events.ReasonInvalidData},
				{"a lastlogin record with invalid UTF-8 is malformed", lastlogin, binary(site, events.TypeLastLoginRecorded),
					`{"user_uuid":"` + kept + `","username":"k\xffpt","last_login_at":"2027-01-01T00:00:00Z"}`, events.ReasonMalformed},
				{"a user-synced record whose roles are a string is invalid_data", synced, binary(site, events.TypeUserSynced), userJSON("roles", `"System Developer"`), events.ReasonInvalidData},
				{"a user-synced record with more roles than any user has is invalid_data", synced, binary(site, events.TypeUserSynced), userJSON("roles", manyRoles), events.ReasonInvalidData},
				{"a user-synced record with a NUL in the family name is invalid_data", synced, binary(site, events.TypeUserSynced), userJSON("family_name", `"Row\u0000"`), events.ReasonInvalidData},
				{"a user-synced record with a 10,000-character username is invalid_data", synced, binary(site, events.TypeUserSynced), userJSON("username", `"`+strings.Repeat("x", 10000)+`"`), events.ReasonInvalidData},
				{"a user-synced record without a creation date is invalid_data", synced, binary(site, events.TypeUserSynced), userJSON("created_at", "null"), events.ReasonInvalidData},
				{"a record for a site nobody configured is unknown_site", h.ns.LastLogin("nowhere"), binary("nowhere", events.TypeLastLoginRecorded),
					`{"user_uuid":"` + kept + `","username":"kept","last_login_at":"2027-01-01T00:00:00Z"}`, "unknown_site"},
				{"a record forged for another site inside this site's subject is site_mismatch", lastlogin, binary("clinic-b", events.TypeLastLoginRecorded),
					`{"user_uuid":"` + kept + `","username":"kept","last_login_at":"2027-01-01T00:00:00Z"}`, "site_mismatch"},
				{"an authentication event on the records stream is unexpected_type", lastlogin, binary(site, events.TypeUserSession),
					`{"event":"login","status":"success","user_uuid":"` + kept + `","username":"kept","occurred_at":"2027-01-01T00:00:00Z","method":"form"}`, "unexpected_type"},
				{"an unknown type is unknown_type", synced, binary(site, "dormant.user.deleted"), `{}`, events.ReasonUnknownType},
			}
			dead := func() int { return len(h.deadLetters()) }
			for i, c := range cases {
				t.Run(c.rule, func(t *testing.T) {
					was := dead()
					h.publishRaw(&nats.Msg{Subject: c.subject, Header: c.header, Data: []byte(c.data)})
					probe := fmt.Sprintf("5e0c1a2b-0000-4000-8000-%012d", 100+i)
					h.sync(site, events.UserSynced{UserUUID: probe, Username: fmt.Sprintf("probe%d", i), CreatedAt: created})
					h.settle()
					if _, err := h.p.Store().User(h.ctx, site, probe); err != nil {
						t.Fatalf("a valid record after the bad one was not applied: %v", err)
					}
					dl := h.deadLetters()
					if len(dl) != was+1 {
						t.Fatalf("the DLQ grew by %d, want 1", len(dl)-was)
					}
					if got := dl[len(dl)-1].Header.Get(natsbus.HeaderDLQReason); got != c.dlq {
						t.Errorf("dead letter reason %q (%s), want %q", got, dl[len(dl)-1].Header.Get(natsbus.HeaderDLQDetail), c.dlq)
					}
					after, err := h.p.Store().User(h.ctx, site, kept)
					if err != nil || !sameUser(before, after) {
						t.Fatalf("the stored row changed:\n before %+v\n after  %+v (%v)", before, after, err)
					}
					if _, err := h.p.Store().User(h.ctx, "clinic-b", kept); err == nil {
						t.Fatal("a forged record created a row at clinic-b")
					}
				})
			}
		})
	}
}

// publishRaw publishes a message as it is, for input no encoder would produce.
func (h *harness) publishRaw(m *nats.Msg) {
	h.t.Helper()
	ack, err := h.js.PublishMsg(h.ctx, m)
	if err != nil {
		h.t.Fatal(err)
	}
	h.seq[ack.Stream] = max(h.seq[ack.Stream], ack.Sequence)
}

// deadLetters reads the records consumer's DLQ.
func (h *harness) deadLetters() []*nats.Msg {
	h.t.Helper()
	s, err := h.js.Stream(h.ctx, h.ns.StreamDLQ())
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*nats.Msg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(h.ctx, seq)
		if err != nil || m.Subject != h.ns.DLQ("records") {
			continue
		}
		out = append(out, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
	}
	return out
}

func sameUser(a, b policy.User) bool {
	if (a.LastLoginAt == nil) != (b.LastLoginAt == nil) || (a.LastLoginAt != nil && !a.LastLoginAt.Equal(*b.LastLoginAt)) {
		return false
	}
	a.LastLoginAt, b.LastLoginAt = nil, nil
	a.CreatedAt, b.CreatedAt = a.CreatedAt.UTC(), b.CreatedAt.UTC()
	return reflect.DeepEqual(a, b)
}
