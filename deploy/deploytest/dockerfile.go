package deploytest

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dfparser "github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Image is what a Dockerfile's final stage says about the container it makes.
type Image struct {
	Stages      []instructions.Stage
	BuildArgs   map[string]string // ARG defaults before the first FROM
	Env         map[string]string
	User        string
	Entrypoint  []string
	Cmd         []string
	Healthcheck []string
	Expose      []string
	Labels      map[string]string
	Copies      map[string]string // destination → "--from=<stage> <sources>"
	BuildRuns   []string          // RUN command lines of the stages before the last
}

// ParseDockerfile parses path with BuildKit's own Dockerfile parser.
func ParseDockerfile(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := dfparser.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: no stage", path)
	}
	img := &Image{Stages: stages, BuildArgs: map[string]string{}, Env: map[string]string{}, Labels: map[string]string{}, Copies: map[string]string{}}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				img.BuildArgs[kv.Key] = *kv.Value
			}
		}
	}
	for i, st := range stages {
		last := i == len(stages)-1
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.RunCommand:
				if !last {
					img.BuildRuns = append(img.BuildRuns, strings.Join(c.CmdLine, " "))
				}
			}
			if !last {
				continue
			}
			switch c := c.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					img.Env[kv.Key] = kv.Value
				}
			case *instructions.UserCommand:
				img.User = c.User
			case *instructions.EntrypointCommand:
				if c.PrependShell {
					return nil, fmt.Errorf("%s: ENTRYPOINT must be in exec form (JSON array): no shell in the image", path)
				}
				img.Entrypoint = c.CmdLine
			case *instructions.CmdCommand:
				if c.PrependShell {
					return nil, fmt.Errorf("%s: CMD must be in exec form (JSON array): no shell in the image", path)
				}
				img.Cmd = c.CmdLine
			case *instructions.HealthCheckCommand:
				img.Healthcheck = c.Health.Test
			case *instructions.ExposeCommand:
				img.Expose = append(img.Expose, c.Ports...)
			case *instructions.LabelCommand:
				for _, kv := range c.Labels {
					img.Labels[kv.Key] = unquote(kv.Value)
				}
			case *instructions.CopyCommand:
				img.Copies[c.DestPath] = "--from=" + c.From + " " + strings.Join(c.SourcePaths, " ")
			}
		}
	}
	return img, nil
}

// finalBases are the final images a dormant container may start from: no shell, no package
// manager, non-root by default.
var finalBases = []string{"gcr.io/distroless/static-debian12:nonroot", "scratch"}

var ldflagsVersion = regexp.MustCompile(`-X\s+(github\.com/dormant-dev/dormant/[A-Za-z0-9_/.-]+)\.([A-Za-z_][A-Za-z0-9_]*)=\$\{?VERSION\}?`)
var buildTarget = regexp.MustCompile(`\s(\./services/[A-Za-z0-9_/.-]+)`)

// CheckDockerfile checks a binary's Dockerfile against the code. repo is the repository root.
func CheckDockerfile(repo string, b Binary, img *Image) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(img.Stages) < 2 {
		bad("want a multi-stage build (builder, then a minimal final image), got %d stage(s)", len(img.Stages))
	}
	final := img.Stages[len(img.Stages)-1]
	if !slices.Contains(finalBases, final.BaseName) {
		bad("final stage FROM %s: want one of %v", final.BaseName, finalBases)
	}

	// The builder: the workspace's Go, a static build, the version stamped into a real variable.
	goVersion, err := workspaceGoVersion(repo)
	if err != nil {
		bad("%v", err)
	}
	base := expandArgs(img.Stages[0].BaseName, img.BuildArgs)
	if !strings.HasPrefix(base, "golang:") || goVersion == "" || !strings.HasPrefix(goVersion, strings.TrimPrefix(base, "golang:")) {
		bad("builder FROM %s: want golang:<the go.work version %s>", base, goVersion)
	}
	run := strings.Join(img.BuildRuns, "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "go build"} {
		if !strings.Contains(run, want) {
			bad("builder: want %q in the go build command", want)
		}
	}
	if m := ldflagsVersion.FindStringSubmatch(run); m == nil {
		bad("builder: want -ldflags \"-X github.com/dormant-dev/dormant/services/platform/buildinfo.Version=${VERSION}\"")
	} else if err := hasStringVar(repo, m[1], m[2]); err != nil {
		bad("builder: -X %s.%s: %v", m[1], m[2], err)
	}
	if m := buildTarget.FindStringSubmatch(run); m == nil {
		bad("builder: no ./services/... package built")
	} else if err := callsInfraMain(filepath.Join(repo, m[1])); err != nil {
		bad("builder: %s: %v", m[1], err)
	}

	// The final image: the binary where the entrypoint says, a non-root user, a health check
	// the binary answers, the port the binary listens on.
	if from, ok := img.Copies[b.ImagePath()]; !ok || !strings.HasPrefix(from, "--from="+img.Stages[0].Name+" ") {
		bad("final stage: want the binary copied from the builder to %s", b.ImagePath())
	}
	if len(img.Entrypoint) == 0 || img.Entrypoint[0] != b.ImagePath() {
		bad("ENTRYPOINT %v: want [%q ...]", img.Entrypoint, b.ImagePath())
	}
	user, _, _ := strings.Cut(img.User, ":")
	if user == "" || user == "0" || user == "root" {
		bad("USER %q: want a non-root user", img.User)
	} else if _, err := fmt.Sscanf(user, "%d", new(int)); err != nil {
		bad("USER %q: want a numeric uid, so that Kubernetes runAsNonRoot can verify it", img.User)
	}
	if want := []string{"CMD", b.ImagePath(), "healthcheck"}; !slices.Equal(img.Healthcheck, want) {
		bad("HEALTHCHECK %v: want %v (no shell or curl in the image)", img.Healthcheck, want)
	}
	keys := b.Keys()
	for _, k := range sortedKeys(img.Env) {
		if _, ok := keys[k]; strings.HasPrefix(k, "DORMANT_") && !ok {
			bad("ENV %s: %s does not read it", k, b.Name)
		}
	}
	addr := b.HTTPAddr(img.Env)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		bad("DORMANT_HTTP_ADDR %q: %v", addr, err)
	} else {
		if host == "" || host == "localhost" || net.ParseIP(host).IsLoopback() {
			bad("DORMANT_HTTP_ADDR %q: loopback is unreachable from outside the container", addr)
		}
		if !slices.Contains(img.Expose, port) && !slices.Contains(img.Expose, port+"/tcp") {
			bad("EXPOSE %v: want the HTTP port %s", img.Expose, port)
		}
	}
	for _, l := range []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.version", "org.opencontainers.image.revision", "org.opencontainers.image.created"} {
		if img.Labels[l] == "" {
			bad("LABEL %s is missing", l)
		}
	}
	if v := img.Labels["org.opencontainers.image.version"]; v != "${VERSION}" && v != "$VERSION" {
		bad("LABEL org.opencontainers.image.version=%q: want ${VERSION}, the version the binary carries", v)
	}
	return errors.Join(errs...)
}

// unquote drops the quotes BuildKit keeps around a LABEL value.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func expandArgs(s string, args map[string]string) string {
	return os.Expand(s, func(k string) string { return args[k] })
}

var goDirective = regexp.MustCompile(`(?m)^go\s+(\d+\.\d+)`)

func workspaceGoVersion(repo string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(repo, "go.work"))
	if err != nil {
		return "", err
	}
	m := goDirective.FindSubmatch(raw)
	if m == nil {
		return "", errors.New("go.work has no go directive")
	}
	return string(m[1]), nil
}

// hasStringVar says whether the package at import path pkg (inside this repository) declares a
// package-level string variable name, which -ldflags -X can set.
func hasStringVar(repo, pkg, name string) error {
	dir := filepath.Join(repo, strings.TrimPrefix(pkg, "github.com/dormant-dev/dormant/"))
	found := false
	err := forEachGoFile(dir, func(f *ast.File) {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					found = found || n.Name == name
				}
			}
		}
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("no package-level variable %s in %s", name, dir)
	}
	return nil
}

// callsInfraMain says whether the main package in dir runs through infra.Main, which answers
// the `healthcheck` argument the images' HEALTHCHECK uses.
func callsInfraMain(dir string) error {
	found := false
	err := forEachGoFile(dir, func(f *ast.File) {
		if f.Name.Name != "main" {
			return
		}
		infra := importName(f, "github.com/dormant-dev/dormant/services/platform/infra")
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Main" {
				if x, ok := sel.X.(*ast.Ident); ok && infra != "" && x.Name == infra {
					found = true
				}
			}
			return true
		})
	})
	if err != nil {
		return err
	}
	if !found {
		return errors.New("no main package calling infra.Main (which implements `healthcheck`)")
	}
	return nil
}

func forEachGoFile(dir string, fn func(*ast.File)) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		fn(f)
	}
	return nil
}
