package deploytest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/policy"
)

// LoadCompose loads a compose file the way `docker compose config` does (schema validation,
// interpolation, every profile), offline and without reading the caller's environment, so
// ${VAR:-default} takes its default. Relative paths resolve against repo.
func LoadCompose(ctx context.Context, repo, path string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithWorkingDirectory(repo),
		cli.WithProfiles([]string{"*"}),
		cli.WithEnv(nil),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(ctx)
}

// composeEnv is a service's environment as the container sees it (unset variables dropped).
func composeEnv(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// ComposeBinary says which dormant binary a compose service runs: the one whose Dockerfile
// under deploy/docker/ it builds.
func ComposeBinary(s types.ServiceConfig) (Binary, bool) {
	if s.Build == nil {
		return Binary{}, false
	}
	name, ok := strings.CutSuffix(filepath.Base(s.Build.Dockerfile), ".Dockerfile")
	if !ok {
		return Binary{}, false
	}
	return BinaryNamed(name)
}

// CheckCompose checks a loaded compose project against the code.
func CheckCompose(repo string, p *types.Project) error {
	var errs []error
	bad := func(svc, format string, args ...any) {
		errs = append(errs, fmt.Errorf("service %s: %s", svc, fmt.Sprintf(format, args...)))
	}
	var natsServices []string
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		if hc := s.HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
			bad(name, "no health check")
		}
		for _, port := range s.Ports {
			if port.Published != "" && port.HostIP != "127.0.0.1" {
				bad(name, "port %s is published on %q: bind it to 127.0.0.1", port.Published, port.HostIP)
			}
		}
		if strings.HasPrefix(s.Image, "nats:") {
			natsServices = append(natsServices, name)
		}
	}
	errs = append(errs, checkNATSCluster(p, natsServices)...)

	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		b, ok := ComposeBinary(s)
		if !ok {
			continue
		}
		if err := checkComposeBinary(repo, p, s, b, natsServices); err != nil {
			errs = append(errs, fmt.Errorf("service %s (%s): %w", name, b.Name, err))
		}
	}
	return errors.Join(errs...)
}

func checkComposeBinary(repo string, p *types.Project, s types.ServiceConfig, b Binary, natsServices []string) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if _, err := os.Stat(filepath.Join(repo, s.Build.Dockerfile)); err != nil && !filepath.IsAbs(s.Build.Dockerfile) {
		bad("build.dockerfile: %v", err)
	}
	if !strings.Contains(s.Image, b.Name) {
		bad("image %q does not name %s", s.Image, b.Name)
	}
	if want := []string{"CMD", b.ImagePath(), "healthcheck"}; s.HealthCheck != nil && !slices.Equal([]string(s.HealthCheck.Test), want) {
		bad("healthcheck %v: want %v (the image has no shell or curl)", s.HealthCheck.Test, want)
	}

	envs := composeEnv(s)
	sites, err := composeSites(s, envs)
	if err != nil {
		bad("%v", err)
	}
	if err := b.CheckContainerEnv(envs, sites); err != nil {
		errs = append(errs, err)
	}
	if sites != nil {
		errs = append(errs, checkSiteHosts(p, sites)...)
	}

	port, err := b.HTTPPort(envs)
	if err != nil {
		bad("%v", err)
	}
	for _, pc := range s.Ports {
		if strconv.Itoa(int(pc.Target)) != port {
			bad("publishes container port %d, but %s listens on %s", pc.Target, b.Name, port)
		}
	}

	// The bus: every NATS host a compose service, waited for, and as many stream replicas as
	// NATS servers.
	replicas := b.Keys()["DORMANT_STREAM_REPLICAS"].Default
	if v, ok := envs["DORMANT_STREAM_REPLICAS"]; ok {
		replicas = v
	}
	if natsURL := envs["DORMANT_NATS_URL"]; natsURL == "" {
		if replicas != "1" {
			bad("embedded NATS is one server: DORMANT_STREAM_REPLICAS %s must be 1", replicas)
		}
	} else {
		var hosts []string
		for _, u := range strings.Split(natsURL, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil {
				bad("DORMANT_NATS_URL %q: %v", u, err)
				continue
			}
			hosts = append(hosts, pu.Hostname())
		}
		slices.Sort(hosts)
		if !slices.Equal(hosts, natsServices) {
			bad("DORMANT_NATS_URL names %v, the NATS services are %v", hosts, natsServices)
		}
		for _, h := range hosts {
			if d, ok := s.DependsOn[h]; !ok || d.Condition != types.ServiceConditionHealthy {
				bad("depends_on %s: want condition service_healthy", h)
			}
		}
		if replicas != strconv.Itoa(len(natsServices)) {
			bad("DORMANT_STREAM_REPLICAS %s: the cluster has %d NATS servers", replicas, len(natsServices))
		}
	}
	if db := envs["DORMANT_DB"]; strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		u, err := url.Parse(db)
		if err != nil {
			bad("DORMANT_DB: %v", err)
		} else if _, ok := p.Services[u.Hostname()]; !ok {
			bad("DORMANT_DB host %s is not a service", u.Hostname())
		} else if d, ok := s.DependsOn[u.Hostname()]; !ok || d.Condition != types.ServiceConditionHealthy {
			bad("depends_on %s: want condition service_healthy", u.Hostname())
		}
	}
	return errors.Join(errs...)
}

// composeSites loads the sites file DORMANT_CONFIG points at, through the bind mount that puts
// it there.
func composeSites(s types.ServiceConfig, envs map[string]string) (*siteconfig.File, error) {
	target := envs["DORMANT_CONFIG"]
	if target == "" {
		return nil, nil
	}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target {
			return LoadSites(v.Source)
		}
	}
	return nil, fmt.Errorf("DORMANT_CONFIG %s: no bind mount puts a file there", target)
}

// LoadSites reads a sites file with the code's own loader and checks each site's policy block
// with the policy package's loader.
func LoadSites(path string) (*siteconfig.File, error) {
	f, err := siteconfig.Load(path)
	if err != nil {
		return nil, err
	}
	return f, ParseSites(f)
}

// ParseSites checks each site's policy block with the policy package's own loader.
func ParseSites(f *siteconfig.File) error {
	var errs []error
	for _, s := range f.Sites {
		if _, err := policy.Load(&s.Policy, nil); err != nil {
			errs = append(errs, fmt.Errorf("site %s: policy: %w", s.ID, err))
		}
	}
	return errors.Join(errs...)
}

// checkSiteHosts: the OpenMRS and SMTP servers a site names must be services of the project.
func checkSiteHosts(p *types.Project, sites *siteconfig.File) []error {
	var errs []error
	for _, s := range sites.Sites {
		if s.OpenMRSURL != "" {
			u, _ := url.Parse(s.OpenMRSURL)
			if _, ok := p.Services[u.Hostname()]; !ok {
				errs = append(errs, fmt.Errorf("site %s: openmrs_url host %s is not a service", s.ID, u.Hostname()))
			}
		}
		if s.SMTP != nil {
			if _, ok := p.Services[s.SMTP.Host]; !ok {
				errs = append(errs, fmt.Errorf("site %s: smtp host %s is not a service", s.ID, s.SMTP.Host))
			}
		}
	}
	return errs
}

// checkNATSCluster: every NATS service runs JetStream on a volume, with a unique name, in one
// named cluster whose routes list every member.
func checkNATSCluster(p *types.Project, names []string) []error {
	var errs []error
	seen := map[string]bool{}
	for _, name := range names {
		s := p.Services[name]
		args := map[string]string{}
		cmd := []string(s.Command)
		for i := 0; i < len(cmd); i++ {
			if strings.HasPrefix(cmd[i], "--") {
				if i+1 < len(cmd) && !strings.HasPrefix(cmd[i+1], "--") {
					args[cmd[i]] = cmd[i+1]
					i++
				} else {
					args[cmd[i]] = ""
				}
			}
		}
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("service %s: %s", name, fmt.Sprintf(format, a...)))
		}
		if _, ok := args["--jetstream"]; !ok {
			bad("no --jetstream")
		}
		if store := args["--store_dir"]; store == "" || !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && v.Target == store
		}) {
			bad("--store_dir %q is not on a named volume: JetStream data would not survive the container", store)
		}
		if n := args["--name"]; n == "" || seen[n] {
			bad("--name %q: each server needs its own name in a JetStream cluster", n)
		} else {
			seen[n] = true
		}
		if args["--cluster_name"] == "" {
			bad("no --cluster_name")
		}
		var routed []string
		for _, r := range strings.Split(args["--routes"], ",") {
			if u, err := url.Parse(r); err == nil && u.Hostname() != "" {
				routed = append(routed, u.Hostname())
			}
		}
		slices.Sort(routed)
		if !slices.Equal(routed, names) {
			bad("--routes reach %v, the cluster is %v", routed, names)
		}
	}
	if len(names) != 0 && len(names) != 3 {
		errs = append(errs, fmt.Errorf("%d NATS services: the compose profile runs a 3-node cluster", len(names)))
	}
	return errs
}
