// Command keycloak-disabler disables in Keycloak every user dormant retires in OpenMRS: a
// durable JetStream consumer of dormant.user.deactivated events that finds the Keycloak user
// with the same username and sets it disabled. See deploy/examples/README.md.
//
// Environment:
//
//	NATS_URL                    dormant's NATS (default nats://127.0.0.1:4223, the all-in-one's)
//	DORMANT_SUBJECT_ROOT        dormant's subject root (default dormant)
//	CONSUMER_NAME               the durable consumer (default keycloak-disabler)
//	KEYCLOAK_URL                e.g. https://sso.example.org (add /auth before Keycloak 17)
//	KEYCLOAK_REALM              the realm OpenMRS users sign in with
//	KEYCLOAK_TOKEN_REALM        the realm of the client (default KEYCLOAK_REALM)
//	KEYCLOAK_CLIENT_ID          a confidential client with a service account holding
//	KEYCLOAK_CLIENT_SECRET      realm-management's view-users and manage-users roles
package main

import (
	"log/slog"
	"os"

	"github.com/dormant-dev/dormant/deploy/examples/consumer"
	"github.com/dormant-dev/dormant/deploy/examples/keycloak"
)

func main() {
	consumer.Main("keycloak-disabler", func(log *slog.Logger) (consumer.Handler, error) {
		kc, err := keycloak.New(keycloak.Config{
			BaseURL: os.Getenv("KEYCLOAK_URL"), Realm: os.Getenv("KEYCLOAK_REALM"), TokenRealm: os.Getenv("KEYCLOAK_TOKEN_REALM"),
			ClientID: os.Getenv("KEYCLOAK_CLIENT_ID"), ClientSecret: os.Getenv("KEYCLOAK_CLIENT_SECRET"),
		})
		if err != nil {
			return nil, err
		}
		return keycloak.Disabler(kc, log), nil
	})
}
