package natsbus

import (
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// Auth is how a service proves itself to an external NATS server and checks the server in
// turn. User and password can also travel in the URL (nats://user:pass@host:4222).
type Auth struct {
	// CredsFile is a NATS credentials file (JWT and NKey seed) from the operator's account
	// server (nsc); the usual choice for a managed NATS.
	CredsFile string `env:"DORMANT_NATS_CREDS"`
	// NKeySeedFile is a file holding a user NKey seed ("SU..."), for servers configured with
	// nkey users.
	NKeySeedFile string `env:"DORMANT_NATS_NKEY_SEED"`
	// TLSCA is a PEM file of the CA that signed the server's certificate; setting it turns on
	// TLS with verification against that CA only.
	TLSCA string `env:"DORMANT_NATS_TLS_CA"`
	// TLSCert and TLSKey are the client certificate and key, for servers that verify clients.
	TLSCert string `env:"DORMANT_NATS_TLS_CERT"`
	TLSKey  string `env:"DORMANT_NATS_TLS_KEY"`
}

// Options turns the settings into client options, checking that the files exist so a typo
// is reported at start-up, by variable name, rather than as a handshake failure.
func (a Auth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	var errs []error
	readable := func(env, path string) bool {
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", env, err))
			return false
		}
		return true
	}
	if a.CredsFile != "" && a.NKeySeedFile != "" {
		errs = append(errs, errors.New("DORMANT_NATS_CREDS and DORMANT_NATS_NKEY_SEED: set one, not both"))
	}
	if a.CredsFile != "" && readable("DORMANT_NATS_CREDS", a.CredsFile) {
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if a.NKeySeedFile != "" && readable("DORMANT_NATS_NKEY_SEED", a.NKeySeedFile) {
		o, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("DORMANT_NATS_NKEY_SEED: %w", err))
		} else {
			opts = append(opts, o)
		}
	}
	if a.TLSCA != "" && readable("DORMANT_NATS_TLS_CA", a.TLSCA) {
		opts = append(opts, nats.RootCAs(a.TLSCA))
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		errs = append(errs, errors.New("DORMANT_NATS_TLS_CERT and DORMANT_NATS_TLS_KEY: set both or neither"))
	} else if a.TLSCert != "" && readable("DORMANT_NATS_TLS_CERT", a.TLSCert) && readable("DORMANT_NATS_TLS_KEY", a.TLSKey) {
		opts = append(opts, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return opts, nil
}
