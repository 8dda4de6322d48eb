package deploytest

import (
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/dormant-dev/dormant/services/platform/siteconfig"
)

type innerOpts struct {
	Wait time.Duration `env:"WAIT" envDefault:"1s"`
}

type walkFixture struct {
	Plain    string    `env:"DORMANT_PLAIN"`
	Default  int       `env:"DORMANT_DEFAULTED" envDefault:"7"`
	Needed   string    `env:"DORMANT_NEEDED,required"`
	Skipped  string    `env:"-"`
	Untagged string    // no env tag: not read
	Inner    innerOpts `envPrefix:"DORMANT_INNER_"`
	Embedded struct {
		Deep bool `env:"DORMANT_DEEP" envDefault:"true"`
	}
	Stamp time.Time `env:"DORMANT_STAMP"` // a struct the parser reads as one value
}

// TestKeysWalkTheStructLikeTheParser: the walker reads the same variables github.com/caarlos0/env
// reads: tags, defaults, required, prefixes, nested structs, "-" skipped.
func TestKeysWalkTheStructLikeTheParser(t *testing.T) {
	got := Binary{config: walkFixture{}}.Keys()
	want := map[string]Key{
		"DORMANT_PLAIN":      {},
		"DORMANT_DEFAULTED":  {Default: "7"},
		"DORMANT_NEEDED":     {Required: true},
		"DORMANT_INNER_WAIT": {Default: "1s"},
		"DORMANT_DEEP":       {Default: "true"},
		"DORMANT_STAMP":      {},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("keys:\n got %v\nwant %v", got, want)
	}
	// The parser agrees: every key the walker found is one it fills.
	var f walkFixture
	envs := map[string]string{"DORMANT_NEEDED": "x", "DORMANT_INNER_WAIT": "3s", "DORMANT_PLAIN": "p"}
	if err := env.ParseWithOptions(&f, env.Options{Environment: envs}); err != nil {
		t.Fatal(err)
	}
	if f.Inner.Wait != 3*time.Second || f.Plain != "p" || f.Default != 7 || !f.Embedded.Deep {
		t.Fatalf("parser read %+v", f)
	}
}

// TestKeysMatchTheParsersDefaults: for each real binary, the defaults the walker reports are the
// values the code's parser gives an empty environment (so DORMANT_HTTP_ADDR's default port,
// which the deployments are checked against, is the code's).
func TestKeysMatchTheParsersDefaults(t *testing.T) {
	for _, b := range Binaries() {
		t.Run(b.Name, func(t *testing.T) {
			keys := b.Keys()
			if len(keys) < 10 {
				t.Fatalf("%d keys: the walker is not reading the Config struct", len(keys))
			}
			for _, k := range []string{"DORMANT_HTTP_ADDR", "DORMANT_NATS_URL", "DORMANT_CONFIG", "DORMANT_STREAM_REPLICAS"} {
				if _, ok := keys[k]; !ok {
					t.Errorf("%s: no %s", b.Name, k)
				}
			}
			ptr := reflect.New(reflect.TypeOf(b.config))
			if err := env.ParseWithOptions(ptr.Interface(), env.Options{Environment: map[string]string{}}); err != nil {
				t.Fatal(err)
			}
			addr := ptr.Elem().FieldByName("HTTPAddr").String()
			if addr == "" || addr != keys["DORMANT_HTTP_ADDR"].Default {
				t.Errorf("HTTPAddr parses to %q, the walker says the default is %q", addr, keys["DORMANT_HTTP_ADDR"].Default)
			}
		})
	}
}

func TestCheckEnv(t *testing.T) {
	sites := &siteconfig.File{Sites: []siteconfig.Site{{ID: "demo", IngestTokenEnv: "DORMANT_DEMO_TOKEN", OpenMRSPasswordEnv: "DEMO_PW",
		IngestTokens: []siteconfig.IngestToken{{Name: "next", Env: "DORMANT_DEMO_TOKEN_NEXT"}}}}}
	good := map[string]string{
		"DORMANT_NATS_URL":        "nats://nats:4222",
		"DORMANT_CONFIG":          "/etc/dormant/sites.yaml",
		"DORMANT_HTTP_ADDR":       "0.0.0.0:8081",
		"DORMANT_STREAM_REPLICAS": "3",
		"DORMANT_DEMO_TOKEN":      "t",
		"DORMANT_DEMO_TOKEN_NEXT": "n",
		"PATH":                    "/usr/bin", // not ours: ignored
	}
	// with returns good changed by key, value pairs; an empty value removes the key.
	with := func(kv ...string) map[string]string {
		m := maps.Clone(good)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		binary  string
		envs    map[string]string
		wantErr string
	}{
		{"a complete environment passes", "login-ingest", good, ""},
		{"a variable the code does not read (renamed in code) fails", "login-ingest", with("DORMANT_STREAM_REPLICA", "3"), "does not read DORMANT_STREAM_REPLICA"},
		{"a service without a NATS URL fails the code's validation", "login-ingest", with("DORMANT_NATS_URL", ""), "DORMANT_NATS_URL: required"},
		{"the all-in-one may embed NATS", "dormant", with("DORMANT_NATS_URL", "", "DEMO_PW", "x"), ""},
		{"no sites file fails", "login-ingest", with("DORMANT_CONFIG", ""), "DORMANT_CONFIG"},
		{"a value out of range fails", "login-ingest", with("DORMANT_STREAM_REPLICAS", "9"), "DORMANT_STREAM_REPLICAS 9"},
		{"a value that does not parse fails", "login-ingest", with("DORMANT_INGEST_BATCH_WAIT", "soon"), `invalid duration "soon"`},
		{"a loopback HTTP address is unreachable from probes", "login-ingest", with("DORMANT_HTTP_ADDR", "127.0.0.1:8081"), "loopback"},
		{"the code's loopback default is unreachable too", "login-ingest", with("DORMANT_HTTP_ADDR", ""), "loopback"},
		{"a site secret the binary reads must be set", "login-ingest", with("DORMANT_DEMO_TOKEN", ""), "reads secret DORMANT_DEMO_TOKEN"},
		{"a binary need not get the secrets it does not read", "login-ingest", good, ""},
		{"a rotation's new token (ingest_tokens) must be set too", "login-ingest", with("DORMANT_DEMO_TOKEN_NEXT", ""), "reads secret DORMANT_DEMO_TOKEN_NEXT"},
		{"policy does not read the new token either", "policy", with("DEMO_PW", "x", "DORMANT_DEMO_TOKEN", ""), "does not read DORMANT_DEMO_TOKEN_NEXT"},
		{"policy reads the OpenMRS password", "policy", with("DORMANT_HTTP_ADDR", "0.0.0.0:8082"), "reads secret DEMO_PW"},
		{"policy does not read the ingest token", "policy", with("DEMO_PW", "x"), "does not read DORMANT_DEMO_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, ok := BinaryNamed(tc.binary)
			if !ok {
				t.Fatalf("no binary %s", tc.binary)
			}
			err := b.CheckContainerEnv(tc.envs, sites)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			wantErr(t, err, tc.wantErr)
		})
	}
}
