package httpserver_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/platform/httpserver"
)

func TestHealthReadinessAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "dormant_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Inc()

	s := httpserver.New("127.0.0.1:0", zap.NewNop(), reg)
	var broken atomic.Bool
	s.AddCheck("db", func(context.Context) error {
		if broken.Load() {
			return errors.New("db down")
		}
		return nil
	})
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	tests := []struct {
		name     string
		broken   bool
		path     string
		wantCode int
		wantBody string
	}{
		{"liveness answers while running", false, "/healthz", 200, `"ok"`},
		{"ready when every check passes", false, "/readyz", 200, `"db":"ok"`},
		{"not ready when a check fails, and says which", true, "/readyz", 503, `"db":"db down"`},
		{"liveness does not depend on checks", true, "/healthz", 200, `"ok"`},
		{"metrics expose the registry", false, "/metrics", 200, "dormant_test_total 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			broken.Store(tc.broken)
			code, body := get(tc.path)
			if code != tc.wantCode || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("GET %s = %d %q, want %d containing %q", tc.path, code, body, tc.wantCode, tc.wantBody)
			}
		})
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
}

func TestProbe(t *testing.T) {
	s := httpserver.New("127.0.0.1:0", zap.NewNop(), prometheus.NewRegistry())
	var down atomic.Bool
	s.AddCheck("x", func(context.Context) error {
		if down.Load() {
			return errors.New("down")
		}
		return nil
	})
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Serve(ctx, ln) }()
	addr := ln.Addr().String()
	if err := httpserver.Probe(ctx, addr, "/readyz"); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	down.Store(true)
	if err := httpserver.Probe(ctx, addr, "/readyz"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unready server: err = %v, want a 503", err)
	}
	if err := httpserver.Probe(ctx, "127.0.0.1:1", "/healthz"); err == nil {
		t.Fatal("nothing listening, yet the probe passed")
	}
}
