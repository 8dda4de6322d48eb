package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/dormant"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
	"github.com/dormant-dev/dormant/services/platform/sqldb"
	"github.com/dormant-dev/dormant/services/policy/audit"
	policysvc "github.com/dormant-dev/dormant/services/policy/service"
)

// auditCmd writes the audit evidence of a site and period as CSV, HTML or PDF. It reads the
// database and the sites file like `dormant whatif`, and needs no running service; the PDF
// is the HTML report printed by a headless Chromium (DORMANT_CHROMIUM, or Debian's chromium).
func auditCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	site := fs.String("site", "", "site id (required)")
	fromFlag := fs.String("from", "", "first day of the period, YYYY-MM-DD (required)")
	toFlag := fs.String("to", "", "last day of the period, YYYY-MM-DD, included (default: today)")
	format := fs.String("format", "html", "csv, html or pdf")
	out := fs.String("out", "", "file to write (default: standard output; required for pdf)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	now := time.Now().UTC()
	from, to, err := auditPeriod(*fromFlag, *toFlag, now)
	if err != nil {
		return err
	}
	if *site == "" {
		return errors.New("audit: --site is required")
	}
	if *format != "csv" && *format != "html" && *format != "pdf" {
		return fmt.Errorf("audit: --format %q: want csv, html or pdf", *format)
	}
	if *format == "pdf" && *out == "" {
		return errors.New("audit: --format pdf needs --out FILE")
	}
	cfg, err := dormant.ConfigFromEnv()
	if err != nil {
		return err
	}
	sites, err := siteconfig.Load(cfg.ConfigFile)
	if err != nil {
		return err
	}
	db, err := sqldb.Open(ctx, cfg.DB, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("DORMANT_DB: %w", err)
	}
	defer db.Close()
	rep, err := policysvc.Audit(ctx, policysvc.AuditDeps{DB: db, Sites: sites, Log: zap.NewNop()}, *site, from, to, now)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	switch *format {
	case "csv":
		err = audit.WriteCSV(&buf, rep)
	default:
		err = audit.WriteHTML(&buf, rep)
	}
	if err != nil {
		return err
	}
	data := buf.Bytes()
	if *format == "pdf" {
		if data, err = printPDF(ctx, data); err != nil {
			return err
		}
	}
	if *out == "" {
		_, err = stdout.Write(data)
		return err
	}
	if err := os.WriteFile(*out, data, 0o600); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	fmt.Fprintf(stdout, "audit of %s from %s to %s: %d accounts past the threshold, %d retired, %d not retired; written to %s\n",
		rep.Site, rep.From.Format(time.DateOnly), rep.To.AddDate(0, 0, -1).Format(time.DateOnly), rep.Totals.PassedThreshold, rep.Totals.Retired, rep.Totals.NotRetired, *out)
	return nil
}

// auditPeriod reads the days given (both included) into [from, to).
func auditPeriod(fromText, toText string, now time.Time) (time.Time, time.Time, error) {
	from, err := time.Parse(time.DateOnly, fromText)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("audit: --from %q: want YYYY-MM-DD", fromText)
	}
	to := now.Truncate(24 * time.Hour)
	if toText != "" {
		if to, err = time.Parse(time.DateOnly, toText); err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("audit: --to %q: want YYYY-MM-DD", toText)
		}
	}
	if to.Before(from) {
		return time.Time{}, time.Time{}, errors.New("audit: the period ends before it starts")
	}
	return from, to.AddDate(0, 0, 1), nil
}

// chromium finds the browser that prints the PDF.
func chromium() (string, error) {
	if p := os.Getenv("DORMANT_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("audit: --format pdf needs Chromium (apt-get install chromium, or set DORMANT_CHROMIUM); --format html gives the same report to print from a browser")
}

// printPDF prints the self-contained HTML report with a headless Chromium, offline: the page
// loads from a local file and refers to nothing outside it.
func printPDF(ctx context.Context, html []byte) ([]byte, error) {
	path, err := chromium()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dormant-audit-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, html, 0o600); err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.Flag("headless", true),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(filepath.Join(dir, "profile")))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancel := context.WithTimeout(bctx, time.Minute)
	defer cancel()
	yes := true
	var res page.PrintToPDFResult
	err = chromedp.Do(bctx, chromedp.Navigate("file://"+file), chromedp.WaitReady(chromedp.CSS("body")))
	if err == nil {
		res, err = chromedp.Call(bctx, page.PrintToPDF, page.PrintToPDFParams{PrintBackground: &yes, PreferCSSPageSize: &yes})
	}
	if err != nil {
		return nil, fmt.Errorf("audit: print the PDF with %s: %w", path, err)
	}
	return res.Data, nil
}
