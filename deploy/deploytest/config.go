// Package deploytest checks dormant's deployment files (Dockerfiles, docker-compose.yml,
// Kubernetes manifests, Prometheus rules, Grafana dashboard) against the code they deploy:
// the environment variables come from the services' Config structs, the metric names from the
// prometheus options in services/, the HTTP routes and ports from the servers themselves.
// Nothing here keeps a list of its own, so a key or metric renamed in code breaks a check.
package deploytest

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"sort"
	"strings"

	"github.com/dormant-dev/dormant/services/dormant"
	ingestsvc "github.com/dormant-dev/dormant/services/login-ingest/service"
	"github.com/dormant-dev/dormant/services/platform/infra"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// Binary is one of dormant's commands as the deployment files run it.
type Binary struct {
	// Name is the command's name, also its file name in the images (/usr/local/bin/<Name>).
	Name string
	// config is the zero value of the command's configuration struct.
	config any
	// secrets says which of a site's *_env variables the command reads.
	secrets func(siteconfig.Site) []string
}

// ImagePath is where the images install the binary.
func (b Binary) ImagePath() string { return "/usr/local/bin/" + b.Name }

// ingestSecrets are every accepted ingest token's variable: ingest_token_env and ingest_tokens.
func ingestSecrets(s siteconfig.Site) []string { return s.IngestTokenEnvs() }

func policySecrets(s siteconfig.Site) []string {
	out := nonEmpty(s.OpenMRSPasswordEnv)
	if s.SMTP != nil {
		out = append(out, nonEmpty(s.SMTP.PasswordEnv)...)
	}
	return out
}

func nonEmpty(names ...string) []string {
	var out []string
	for _, n := range names {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Binaries are the three commands: the all-in-one and the two services.
func Binaries() []Binary {
	return []Binary{
		{Name: "dormant", config: dormant.Config{}, secrets: func(s siteconfig.Site) []string {
			return append(ingestSecrets(s), policySecrets(s)...)
		}},
		{Name: "login-ingest", config: ingestsvc.Config{}, secrets: ingestSecrets},
		{Name: "policy", config: policysvc.Config{}, secrets: policySecrets},
	}
}

// BinaryNamed returns the binary called name.
func BinaryNamed(name string) (Binary, bool) {
	for _, b := range Binaries() {
		if b.Name == name {
			return b, true
		}
	}
	return Binary{}, false
}

// Key is one environment variable a binary reads.
type Key struct {
	Default  string
	Required bool // the env tag says required (Validate may require more: see CheckEnv)
}

// Keys walks the binary's configuration struct and returns every variable it reads, the way
// github.com/caarlos0/env does: env tags, envDefault, envPrefix on nested structs, "-" skipped.
func (b Binary) Keys() map[string]Key {
	out := map[string]Key{}
	walkEnv(reflect.TypeOf(b.config), "", out)
	return out
}

func walkEnv(t reflect.Type, prefix string, out map[string]Key) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("env")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" && ft.Kind() == reflect.Struct && !hasTextUnmarshaler(ft) {
			walkEnv(ft, prefix+f.Tag.Get("envPrefix"), out)
			continue
		}
		if !hasTag || name == "" {
			continue
		}
		out[prefix+name] = Key{Default: f.Tag.Get("envDefault"), Required: strings.Contains(","+opts+",", ",required,")}
	}
}

func hasTextUnmarshaler(t reflect.Type) bool {
	type textUnmarshaler interface{ UnmarshalText([]byte) error }
	return reflect.PointerTo(t).Implements(reflect.TypeFor[textUnmarshaler]())
}

// HTTPAddr is where the binary serves HTTP with env applied: DORMANT_HTTP_ADDR or the code's default.
func (b Binary) HTTPAddr(envs map[string]string) string {
	if v, ok := envs["DORMANT_HTTP_ADDR"]; ok && v != "" {
		return v
	}
	return b.Keys()["DORMANT_HTTP_ADDR"].Default
}

// HTTPPort is the port of HTTPAddr.
func (b Binary) HTTPPort(envs map[string]string) (string, error) {
	_, port, err := net.SplitHostPort(b.HTTPAddr(envs))
	if err != nil {
		return "", fmt.Errorf("%s: DORMANT_HTTP_ADDR %q: %w", b.Name, b.HTTPAddr(envs), err)
	}
	return port, nil
}

// CheckEnv checks an environment a deployment gives the binary:
//   - every DORMANT_* variable is one the code reads, or a secret the sites file names;
//   - the code's own parser and Validate accept it (so required variables are set and values
//     are in range);
//   - each site's secrets this binary reads are set.
//
// sites may be nil when the deployment's sites file is not known.
func (b Binary) CheckEnv(envs map[string]string, sites *siteconfig.File) error {
	var errs []error
	keys := b.Keys()
	secret := map[string]bool{}
	if sites != nil {
		for _, s := range sites.Sites {
			for _, name := range b.secrets(s) {
				secret[name] = true
				if envs[name] == "" {
					errs = append(errs, fmt.Errorf("site %s: %s reads secret %s, which is not set", s.ID, b.Name, name))
				}
			}
		}
	}
	for _, name := range sortedKeys(envs) {
		if _, ok := keys[name]; ok || secret[name] || !strings.HasPrefix(name, "DORMANT_") {
			continue
		}
		errs = append(errs, fmt.Errorf("%s does not read %s (no env tag in its Config, no site secret of that name)", b.Name, name))
	}

	ptr := reflect.New(reflect.TypeOf(b.config))
	// infra.ParseEnvFrom is how the binaries parse: its errors name the variable, not the field.
	if err := infra.ParseEnvFrom(ptr.Interface(), envs); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", b.Name, err))
	} else if v, ok := ptr.Elem().Interface().(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: the code's validation refuses this environment: %w", b.Name, err))
		}
	}

	return errors.Join(errs...)
}

// CheckContainerEnv is CheckEnv for a container: the HTTP address must also be reachable from
// outside the container (not loopback), since health probes and other services come from there.
func (b Binary) CheckContainerEnv(envs map[string]string, sites *siteconfig.File) error {
	err := b.CheckEnv(envs, sites)
	host, _, serr := net.SplitHostPort(b.HTTPAddr(envs))
	switch {
	case serr != nil:
		err = errors.Join(err, fmt.Errorf("%s: DORMANT_HTTP_ADDR %q: %w", b.Name, b.HTTPAddr(envs), serr))
	case host == "localhost" || net.ParseIP(host).IsLoopback():
		err = errors.Join(err, fmt.Errorf("%s: DORMANT_HTTP_ADDR %q listens on loopback: probes and clients outside the container cannot reach it (set 0.0.0.0:<port>)", b.Name, b.HTTPAddr(envs)))
	}
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
