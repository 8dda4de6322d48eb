package deploytest

import (
	"path/filepath"
	"testing"
)

func dockerfile(t *testing.T, b Binary) string {
	return filepath.Join(repo(t), "deploy/docker", b.Name+".Dockerfile")
}

// TestDockerfiles: each binary's Dockerfile builds it statically with the version stamped in,
// runs it as a non-root user from a minimal image, with its own health check and port.
func TestDockerfiles(t *testing.T) {
	for _, b := range Binaries() {
		t.Run(b.Name, func(t *testing.T) {
			img, err := ParseDockerfile(dockerfile(t, b))
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckDockerfile(repo(t), b, img); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDockerfileRejectsWrongFixtures: each rule fails on a Dockerfile that breaks it.
func TestDockerfileRejectsWrongFixtures(t *testing.T) {
	b, _ := BinaryNamed("login-ingest")
	for _, tc := range []struct {
		name     string
		old, new string
		wantErr  string
	}{
		{"root user", "USER 65532:65532", "USER root", `USER "root"`},
		{"named user", "USER 65532:65532", "USER nonroot", "numeric uid"},
		{"entrypoint elsewhere", `ENTRYPOINT ["/usr/local/bin/login-ingest"]`, `ENTRYPOINT ["/login-ingest"]`, "ENTRYPOINT"},
		{"shell-form entrypoint", `ENTRYPOINT ["/usr/local/bin/login-ingest"]`, `ENTRYPOINT /usr/local/bin/login-ingest`, "exec form"},
		{"health check with curl", `CMD ["/usr/local/bin/login-ingest", "healthcheck"]`, `CMD ["curl", "-f", "http://127.0.0.1:8081/healthz"]`, "HEALTHCHECK"},
		{"final image with a shell", "FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:12", "final stage FROM debian:12"},
		{"single stage", "FROM gcr.io/distroless/static-debian12:nonroot\n", "", "multi-stage"},
		{"another Go", "ARG GO_VERSION=1.26", "ARG GO_VERSION=1.22", "golang:1.22"},
		{"cgo on", "CGO_ENABLED=0 ", "", "CGO_ENABLED=0"},
		{"no -trimpath", "-trimpath", "", "-trimpath"},
		{"version variable renamed", "buildinfo.Version=", "buildinfo.Release=", "no package-level variable Release"},
		{"renamed env key", "DORMANT_LOG_FORMAT=json", "DORMANT_LOGFORMAT=json", "ENV DORMANT_LOGFORMAT: login-ingest does not read it"},
		{"loopback address", "DORMANT_HTTP_ADDR=0.0.0.0:8081", "DORMANT_HTTP_ADDR=127.0.0.1:8081", "loopback"},
		{"wrong port exposed", "EXPOSE 8081", "EXPOSE 8080", "EXPOSE [8080]"},
		{"no version label", `org.opencontainers.image.version="${VERSION}"`, `org.opencontainers.image.version="1.0"`, "want ${VERSION}"},
		{"not a binary with a healthcheck command", "./services/login-ingest/cmd/login-ingest", "./services/openmrs", "infra.Main"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := mutate(t, dockerfile(t, b), t.TempDir(), "login-ingest.Dockerfile", tc.old, tc.new)
			img, err := ParseDockerfile(path)
			if err == nil {
				err = CheckDockerfile(repo(t), b, img)
			}
			wantErr(t, err, tc.wantErr)
		})
	}
}
