# syntax=docker/dockerfile:1
# login-ingest: authentication events in, last-login records out. Build from the repository root (the build needs the whole go.work workspace):
#   docker build -f deploy/docker/login-ingest.Dockerfile --build-arg VERSION=$(git describe --tags --always) -t dormant/login-ingest .
# deploy/deploytest checks this file against the code (stages, user, entrypoint, port, env keys).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
ARG VERSION=dev
WORKDIR /src
COPY . .
# Static binary (no libc in the final image), reproducible paths, the version stamped in.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/dormant-dev/dormant/services/platform/buildinfo.Version=${VERSION}" \
      -o /out/login-ingest ./services/login-ingest/cmd/login-ingest

# distroless static: no shell, no package manager, CA certificates and tzdata only.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="login-ingest" \
      org.opencontainers.image.description="dormant login-ingest: OpenMRS authentication events to last-login records" \
      org.opencontainers.image.source="https://github.com/dormant-dev/dormant" \
      org.opencontainers.image.documentation="https://github.com/dormant-dev/dormant/blob/main/docs/operations.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/login-ingest /usr/local/bin/login-ingest
# Listen on every interface inside the container (the code's default is loopback); the
# healthcheck command probes 127.0.0.1 on the same port.
ENV DORMANT_HTTP_ADDR=0.0.0.0:8081 \
    DORMANT_LOG_FORMAT=json
EXPOSE 8081
# distroless "nonroot" (uid and gid 65532), numeric so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# No shell or curl in the image: the binary probes its own /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/login-ingest", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/login-ingest"]

