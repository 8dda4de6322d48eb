package openmrs

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzDecodeUsersPage: no answer body makes decoding a users page, its users or its next
// link panic.
func FuzzDecodeUsersPage(f *testing.F) {
	f.Add([]byte(`{"results":[{"uuid":"u1","username":"nurse","systemId":"3-4","userProperties":{"lastLoginTimestamp":"1700000000000"},"person":{"display":"Ann Nurse","preferredName":{"givenName":"Ann","familyName":"Nurse"}},"roles":[{"name":"Nurse"}],"allRoles":[{"display":"Nurse"}],"auditInfo":{"dateCreated":"2026-01-01T00:00:00.000+0000"}}],"links":[{"rel":"next","uri":"http://h/openmrs/ws/rest/v1/user?startIndex=1"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var l wireList[wireUser]
		if json.Unmarshal(body, &l) != nil {
			return
		}
		for _, w := range l.Results {
			u := w.user()
			u.LastLoginTimestamp()
			u.HasRole("System Developer")
		}
		if next := l.next(); next != "" {
			_, _ = nextStartIndex(next)
		}
	})
}

// FuzzDecodeSession: no GET /session body makes decoding panic, and an answer that is not
// authenticated never holds a privilege.
func FuzzDecodeSession(f *testing.F) {
	f.Add([]byte(`{"authenticated":true,"locale":"en","user":{"uuid":"u1","username":"admin","roles":[{"name":"System Developer"}],"privileges":[{"name":"Edit Users"}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var w wireSession
		if json.Unmarshal(body, &w) != nil {
			return
		}
		s := w.session()
		if !s.Authenticated && s.HasPrivilege("Edit Users") {
			t.Fatal("an unauthenticated session holds Edit Users")
		}
	})
}

// FuzzErrorBody: no error answer makes newAPIError panic, and its message stays short
// whatever the server sends.
func FuzzErrorBody(f *testing.F) {
	f.Add(500, []byte(`{"error":{"message":"[Requested limit 500 exceeds absolute limit at 100]","code":"org.openmrs.module.webservices.rest.web.response.ConversionException","detail":"at x"}}`), "120")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		e := newAPIError(http.MethodGet, "/user", status, http.Header{"Retry-After": {retryAfter}}, body)
		if n := len(e.Error()); n > 1200 {
			t.Fatalf("error of %d bytes", n)
		}
		if e.RetryAfter < 0 {
			t.Fatalf("Retry-After %d", e.RetryAfter)
		}
		absoluteLimit(e)
	})
}

// FuzzParseTime: no text makes ParseTime or Time's JSON decoding panic, and what parses
// encodes again.
func FuzzParseTime(f *testing.F) {
	f.Add("2026-11-23T04:00:00.000+0000")
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParseTime(s); err == nil {
			_ = FormatTime(p)
		}
		raw, _ := json.Marshal(s)
		var tm Time
		if tm.UnmarshalJSON(raw) == nil {
			if _, err := tm.MarshalJSON(); err != nil {
				t.Fatalf("%q decodes but does not encode: %v", s, err)
			}
		}
	})
}
