package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dormant-dev/dormant/events"
)

func TestCommands(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		wantOut string
	}{
		{"no command prints usage and fails", nil, "no command", ""},
		{"an unknown command is named", []string{"frobnicate"}, `unknown command "frobnicate"`, ""},
		{"help prints usage", []string{"help"}, "", "dormant serve"},
		{"version prints the version", []string{"version"}, "", "dev"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("err = %v, output %q, want it to contain %q", err, out.String(), tc.wantOut)
			}
		})
	}
}

// TestSendLoginSendsWhatTheHookSends checks the try-it command against a server that
// decodes the request with the intake's own decoder.
func TestSendLoginSendsWhatTheHookSends(t *testing.T) {
	var got *events.UserSession
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		evs, err := events.FromHTTP(r, 1<<20)
		if err != nil || len(evs) != 1 {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		d, err := events.Decode(evs[0])
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = d.(*events.UserSession)
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]int{"accepted": 1})
	}))
	defer srv.Close()

	var out bytes.Buffer
	err := run(context.Background(), []string{"send-login", "--url", srv.URL, "--site", "demo", "--token", "tok", "--username", "alice", "--at", "2026-11-01T08:00:00Z"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer tok" || got == nil || got.Username != "alice" || got.UserUUID == "" || got.OccurredAt.Format("2006-01-02") != "2026-11-01" {
		t.Fatalf("server saw auth %q and %+v", auth, got)
	}

	err = run(context.Background(), []string{"send-login", "--url", srv.URL, "--status", "failure", "--at", "yesterday"}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-at") {
		t.Fatalf("a bad -at was accepted: %v", err)
	}
}
