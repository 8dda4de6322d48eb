package roster_test

import (
	"slices"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/policy/roster"
)

func TestFacts(t *testing.T) {
	created := time.Date(2023, 5, 6, 7, 8, 9, 0, time.FixedZone("EAT", 3*3600))
	base := openmrs.User{
		UUID: "0b5c1a52-8d0e-4e8a-9a0e-1f2d3c4b5a69", Username: "amina", SystemID: "12-3", Email: "a@example.org",
		Roles:          []openmrs.Role{{Name: "Provider"}, {Name: "Clerk"}},
		UserProperties: map[string]string{"defaultLocation": "7"},
		DateCreated:    created,
	}
	with := func(f func(u *openmrs.User)) openmrs.User {
		u := base
		u.Roles = slices.Clone(base.Roles)
		u.UserProperties = map[string]string{}
		for k, v := range base.UserProperties {
			u.UserProperties[k] = v
		}
		f(&u)
		return u
	}
	same := roster.Fingerprint(roster.Facts(base, "Amina", "Odhiambo"))
	cases := []struct {
		name     string
		user     openmrs.User
		given    string
		wantSame bool
	}{
		{"roles in another order are the same facts", with(func(u *openmrs.User) { slices.Reverse(u.Roles) }), "Amina", true},
		{"an inherited role listed twice is the same facts", with(func(u *openmrs.User) { u.Roles = append(u.Roles, openmrs.Role{Name: "Clerk"}) }), "Amina", true},
		{"a new login is not a change", with(func(u *openmrs.User) { u.UserProperties[openmrs.UserPropertyLastLogin] = "1700000000000" }), "Amina", true},
		{"failed login attempts are not a change", with(func(u *openmrs.User) { u.UserProperties["loginAttempts"] = "3" }), "Amina", true},
		{"a lockout is not a change", with(func(u *openmrs.User) { u.UserProperties["lockoutTimestamp"] = "1700000000000" }), "Amina", true},
		{"the creation date in another zone is the same instant", with(func(u *openmrs.User) { u.DateCreated = created.UTC() }), "Amina", true},
		{"a reason without retirement is ignored", with(func(u *openmrs.User) { u.RetireReason = "stale" }), "Amina", true},
		{"a role added is a change", with(func(u *openmrs.User) { u.Roles = append(u.Roles, openmrs.Role{Name: "System Developer"}) }), "Amina", false},
		{"retirement is a change", with(func(u *openmrs.User) { u.Retired, u.RetireReason = true, "left" }), "Amina", false},
		{"a property is a change", with(func(u *openmrs.User) { u.UserProperties["demo"] = "true" }), "Amina", false},
		{"a renamed person is a change", base, "Aminah", false},
		{"a new username is a change", with(func(u *openmrs.User) { u.Username = "amina2" }), "Amina", false},
		{"a new email is a change", with(func(u *openmrs.User) { u.Email = "" }), "Amina", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := roster.Facts(tc.user, tc.given, "Odhiambo")
			if err := d.Validate(); err != nil {
				t.Fatalf("facts do not validate: %v", err)
			}
			if got := roster.Fingerprint(d) == same; got != tc.wantSame {
				t.Errorf("same fingerprint = %v, want %v (facts %+v)", got, tc.wantSame, d)
			}
		})
	}

	d := roster.Facts(with(func(u *openmrs.User) {
		u.UserProperties[openmrs.UserPropertyLastLogin] = "1"
		u.Retired, u.RetireReason = true, "left"
	}), "Amina", "Odhiambo")
	if !slices.Equal(d.Roles, []string{"Clerk", "Provider"}) {
		t.Errorf("roles %v, want sorted names", d.Roles)
	}
	if _, ok := d.Properties[openmrs.UserPropertyLastLogin]; ok || d.Properties["defaultLocation"] != "7" {
		t.Errorf("properties %v: want defaultLocation and no lastLoginTimestamp", d.Properties)
	}
	if d.RetireReason != "left" || !d.CreatedAt.Equal(created) || d.CreatedAt.Location() != time.UTC {
		t.Errorf("facts %+v", d)
	}
	if roster.EventID("a", d.UserUUID, "f1") == roster.EventID("b", d.UserUUID, "f1") || roster.EventID("a", d.UserUUID, "f1") == roster.EventID("a", d.UserUUID, "f2") {
		t.Error("event ids must differ by site and fingerprint")
	}
}
