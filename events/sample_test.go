package events

import "time"

var (
	t0    = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	prev  = t0.Add(-72 * time.Hour)
	uuidA = "0d7c1a43-6b0c-4d1c-9a3e-2f1b6c7d8e9f"
	uuidB = "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716"
)

// fullSamples returns, for every registered type, a valid value with every field set, so
// schema tests see every property and removal tests can drop each one.
func fullSamples() map[string]Data {
	return map[string]Data{
		TypeUserSession: &UserSession{Event: EventLogin, Status: StatusSuccess, UserUUID: uuidA,
			Username: "nurse.jane", SystemID: "3-4", OccurredAt: t0, Method: MethodForm,
			LocationUUID: uuidB, ClientIP: "10.0.0.7"},
		TypeLastLoginRecorded: &LastLoginRecorded{UserUUID: uuidA, Username: "nurse.jane",
			LastLoginAt: t0, PreviousLoginAt: &prev, LocationUUID: uuidB},
		TypeUserSynced: &UserSynced{UserUUID: uuidA, Username: "nurse.jane", SystemID: "3-4",
			GivenName: "Jane", FamilyName: "Doe", Email: "jane@example.org",
			Roles: []string{"Nurse", "Authenticated"}, CreatedAt: prev, Retired: true,
			RetireReason: "left the clinic", Properties: map[string]string{"defaultLocation": "1"}},
		TypeClockTick: &ClockTick{At: t0, Period: "PT1H"},
		TypeUserWarned: &UserWarned{UserUUID: uuidA, Username: "nurse.jane", Rule: "inactive",
			LastLoginAt: &prev, DeactivateOn: t0.AddDate(0, 0, 7), DaysLeft: 7, PolicyVersion: "v3", DryRun: true},
		TypeDeactivationRequested: &DeactivationRequested{DecisionID: "dec-1", UserUUID: uuidA,
			Username: "nurse.jane", Rule: "inactive", Reason: "no login for 90 days",
			LastLoginAt: &prev, DecidedAt: t0, PolicyVersion: "v3", DryRun: true},
		TypePolicyHeld: &PolicyHeld{BatchID: "batch-1", Count: 40, Limit: 10,
			Reason: "batch larger than max_deactivations_per_tick", Sample: []string{uuidA, uuidB}},
		TypeUserDeactivated: &UserDeactivated{DecisionID: "dec-1", UserUUID: uuidA,
			Username: "nurse.jane", Reason: "no login for 90 days", RetiredAt: t0},
		TypeDeactivationFailed: &DeactivationFailed{DecisionID: "dec-1", UserUUID: uuidA,
			Error: "503 Service Unavailable", Attempts: 5, Retryable: true},
		TypeUserReactivated: &UserReactivated{UserUUID: uuidA, Username: "nurse.jane",
			By: "admin", Reason: "back from leave", RequestID: "req-1"},
		TypeSecurityAlert: &SecurityAlert{Kind: "login_attempt_on_deactivated", UserUUID: uuidA,
			Username: "nurse.jane", OccurredAt: t0, Detail: "3 attempts"},
		TypeLoginFailed: &LoginFailed{Username: "nurse.jane", UserUUID: uuidA, OccurredAt: t0,
			Method: MethodBasic, ClientIP: "2001:db8::1"},
		TypeReactivationRequested: &ReactivationRequested{RequestID: "req-1", Username: "nurse.jane",
			Note: "I am back", RequestedAt: t0, ClientIP: "10.0.0.8"},
	}
}

// sampleEvent builds a valid event for d at site "clinic-a" (none for the tick).
func sampleEvent(d Data) (site string, id string) {
	if PerSite(d.EventType()) {
		return "clinic-a", DerivedID(d.EventType(), "sample")
	}
	return "", TickID(t0)
}
