package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuditWritesEachFormat: an account past its threshold at a site where dormant is off is
// in the report, as not decided, in CSV, HTML and PDF.
func TestAuditWritesEachFormat(t *testing.T) {
	dir, _ := offlineSite(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC))
	ctx := context.Background()
	csvFile, pdfFile := filepath.Join(dir, "audit.csv"), filepath.Join(dir, "audit.pdf")
	tests := []struct {
		name    string
		args    []string
		file    string
		want    string
		wantErr string
	}{
		{"html on standard output", []string{"--site", "clinic", "--from", "2026-04-01", "--to", "2026-06-30"}, "", "Account retirement audit: site clinic", ""},
		{"csv to a file", []string{"--site", "clinic", "--from", "2026-04-01", "--to", "2026-06-30", "--format", "csv", "--out", csvFile}, csvFile,
			"clinic,nurse1," + offlineUser + ",inactive_after,2026-01-10,2026-04-10,", ""},
		{"a period before the threshold names nobody", []string{"--site", "clinic", "--from", "2026-01-01", "--to", "2026-03-31", "--format", "csv"}, "", "site,username", ""},
		{"no site", []string{"--from", "2026-01-01"}, "", "", "--site is required"},
		{"no start", []string{"--site", "clinic"}, "", "", "--from"},
		{"a bad format", []string{"--site", "clinic", "--from", "2026-01-01", "--format", "docx"}, "", "", "want csv, html or pdf"},
		{"pdf needs a file", []string{"--site", "clinic", "--from", "2026-01-01", "--format", "pdf"}, "", "", "needs --out"},
		{"a period backwards", []string{"--site", "clinic", "--from", "2026-02-01", "--to", "2026-01-01"}, "", "", "ends before it starts"},
		{"an unknown site", []string{"--site", "nowhere", "--from", "2026-01-01"}, "", "", "not configured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(ctx, append([]string{"audit"}, tc.args...), &out, &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := out.String()
			if tc.file != "" {
				b, err := os.ReadFile(tc.file)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("output lacks %q:\n%s", tc.want, got)
			}
			if tc.name == "a period before the threshold names nobody" && strings.Contains(got, "nurse1") {
				t.Fatalf("nurse1 is in a period before the threshold:\n%s", got)
			}
		})
	}
	t.Run("pdf", func(t *testing.T) {
		if _, err := chromium(); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal(err)
			}
			t.Skip(err)
		}
		var out bytes.Buffer
		if err := run(ctx, []string{"audit", "--site", "clinic", "--from", "2026-04-01", "--to", "2026-06-30", "--format", "pdf", "--out", pdfFile}, &out, &out); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(pdfFile)
		if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) || len(b) < 2000 {
			t.Fatalf("pdf: %d bytes, %v", len(b), err)
		}
		if !strings.Contains(out.String(), "1 accounts past the threshold, 0 retired, 1 not retired") {
			t.Errorf("summary: %s", out.String())
		}
		// The text of the PDF names the account, when pdftotext is there to read it.
		if p, err := exec.LookPath("pdftotext"); err == nil {
			txt, err := exec.Command(p, pdfFile, "-").Output()
			if err != nil || !strings.Contains(string(txt), "nurse1") {
				t.Errorf("pdftotext: %v\n%s", err, txt)
			}
		}
	})
}
