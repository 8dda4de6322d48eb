package keycloak_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dormant-dev/dormant/deploy/examples/keycloak"
	"github.com/dormant-dev/dormant/deploy/examples/keycloak/keycloaktest"
)

func newClient(t *testing.T, kc *keycloaktest.Server, secret string) *keycloak.Client {
	t.Helper()
	c, err := keycloak.New(keycloak.Config{BaseURL: kc.URL(), Realm: "openmrs", ClientID: "dormant", ClientSecret: secret, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDisableUser(t *testing.T) {
	for _, tc := range []struct {
		name     string
		username string
		setup    func(kc *keycloaktest.Server)
		secret   string
		want     keycloak.Result
		wantErr  func(error) bool
		puts     int
	}{
		{name: "an enabled user is disabled, matched without regard to case", username: "Nurse1", want: keycloak.Disabled, puts: 1},
		{name: "an already disabled user is a success without a write", username: "gone", want: keycloak.AlreadyDisabled},
		{name: "an unknown username", username: "nobody", wantErr: func(err error) bool { return errors.Is(err, keycloak.ErrNoSuchUser) }},
		{name: "a prefix is not a match", username: "nurse", wantErr: func(err error) bool { return errors.Is(err, keycloak.ErrNoSuchUser) }},
		{name: "5xx and 429 are retried", username: "nurse1", setup: func(kc *keycloaktest.Server) { kc.FailNext(503, 429, 502) }, want: keycloak.Disabled, puts: 1},
		{name: "retries run out", username: "nurse1", setup: func(kc *keycloaktest.Server) { kc.FailNext(503, 503, 503, 503, 503) },
			wantErr: keycloak.Retryable},
		{name: "a 403 is not retried", username: "nurse1", setup: func(kc *keycloaktest.Server) { kc.FailNext(403) },
			wantErr: func(err error) bool {
				var e *keycloak.Error
				return errors.As(err, &e) && e.Status == 403 && !keycloak.Retryable(err)
			}},
		{name: "a wrong client secret fails without retrying", username: "nurse1", secret: "wrong",
			wantErr: func(err error) bool {
				var e *keycloak.Error
				return errors.As(err, &e) && e.Status == 401 && e.Op == "token"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := keycloaktest.New("openmrs", "dormant", "s3cret")
			t.Cleanup(kc.Close)
			id := kc.AddUser(keycloaktest.User{Username: "nurse1", FirstName: "Grace", LastName: "Achieng", Email: "grace@example.org", Enabled: true, Attributes: map[string][]string{"openmrs_uuid": {"u-1"}}})
			kc.AddUser(keycloaktest.User{Username: "gone", Enabled: false})
			if tc.setup != nil {
				tc.setup(kc)
			}
			secret := tc.secret
			if secret == "" {
				secret = "s3cret"
			}
			res, err := newClient(t, kc, secret).DisableUser(context.Background(), tc.username)
			if tc.wantErr != nil {
				if err == nil || !tc.wantErr(err) {
					t.Fatalf("err = %v, want the expected kind", err)
				}
				return
			}
			if err != nil || res != tc.want {
				t.Fatalf("DisableUser = %q, %v; want %q", res, err, tc.want)
			}
			if kc.Puts() != tc.puts {
				t.Fatalf("%d updates, want %d", kc.Puts(), tc.puts)
			}
			if tc.puts > 0 {
				u, _ := kc.User(id)
				// The whole representation went back: the profile survives the update.
				if u.Enabled || u.FirstName != "Grace" || u.Email != "grace@example.org" || u.Attributes["openmrs_uuid"][0] != "u-1" {
					t.Fatalf("user after the update: %+v", u)
				}
			}
		})
	}
}

func TestAnExpiredTokenIsRenewedOnce(t *testing.T) {
	kc := keycloaktest.New("openmrs", "dormant", "s3cret")
	t.Cleanup(kc.Close)
	kc.AddUser(keycloaktest.User{Username: "a", Enabled: true})
	kc.AddUser(keycloaktest.User{Username: "b", Enabled: true})
	c := newClient(t, kc, "s3cret")
	if _, err := c.DisableUser(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	kc.ExpireTokens()
	if _, err := c.DisableUser(context.Background(), "b"); err != nil {
		t.Fatalf("after the token expired: %v", err)
	}
	if kc.Tokens() != 2 {
		t.Fatalf("%d tokens issued, want 2 (one reused, one renewed after the 401)", kc.Tokens())
	}
}
