// Package testenv gives tests their own slice of the machine's real services: a fresh
// PostgreSQL schema and a fresh NATS subject root, removed when the test ends.
//
// Outside CI a missing service skips the test, so a laptop without PostgreSQL can still run
// the rest; with CI=true it fails, because a skipped test there would hide a broken machine.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults point at the services the development machines and CI start.
const (
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultNATSURL     = "nats://127.0.0.1:4222"
)

// InCI reports whether the tests run under CI, where missing services are failures.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips the test outside CI and fails it in CI.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI and is not reachable: %v", what, err)
	}
	t.Skipf("%s not reachable (set CI=true to make this a failure): %v", what, err)
}

// UniqueName returns prefix followed by random lowercase hex, safe as a schema name or
// a NATS subject token.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// PostgresURL returns the base URL of the test PostgreSQL (DORMANT_TEST_POSTGRES_URL or the default).
func PostgresURL() string {
	if u := os.Getenv("DORMANT_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// NATSURL returns the URL of the test NATS server (DORMANT_TEST_NATS_URL or the default).
func NATSURL() string {
	if u := os.Getenv("DORMANT_TEST_NATS_URL"); u != "" {
		return u
	}
	return DefaultNATSURL
}

// Postgres creates a schema of its own for the test and returns a URL whose connections use
// it as their search_path. The schema is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := PostgresURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		Unavailable(t, "PostgreSQL at "+redact(base), err)
		return ""
	}
	schema := UniqueName("t_")
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		conn.Close(ctx)
		t.Fatalf("create test schema: %v", err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", redact(base), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// NATS connects to the test NATS server and returns the connection and a subject root of the
// test's own (for example "t3f9a0c1d2e4b"): streams and subjects derived from that root belong
// to this test alone. Every stream whose name starts with the root's upper-case form, and every
// key-value bucket named after the root, is deleted when the test ends.
func NATS(t testing.TB) (*nats.Conn, string) {
	t.Helper()
	nc, err := nats.Connect(NATSURL(), nats.Timeout(5*time.Second))
	if err != nil {
		Unavailable(t, "NATS at "+NATSURL(), err)
		return nil, ""
	}
	root := UniqueName("t")
	t.Cleanup(func() {
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Errorf("jetstream for cleanup: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The test's streams, and the streams behind its key-value buckets (KV_<root>_...).
		prefixes := []string{strings.ToUpper(root) + "_", "KV_" + root + "_", "KV_" + strings.ToUpper(root) + "_"}
		names := js.StreamNames(ctx)
		var doomed []string
		for name := range names.Name() {
			for _, p := range prefixes {
				if strings.HasPrefix(name, p) {
					doomed = append(doomed, name)
					break
				}
			}
		}
		for _, name := range doomed {
			if err := js.DeleteStream(ctx, name); err != nil {
				t.Errorf("delete test stream %s: %v", name, err)
			}
		}
	})
	return nc, root
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
