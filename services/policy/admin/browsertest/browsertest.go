// Package browsertest drives the admin page in a real headless Chromium for end-to-end tests,
// and keeps a screenshot of each page it visits for people to look at.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser is one headless Chromium with one tab.
type Browser struct {
	t        testing.TB
	Ctx      context.Context
	shotsDir string
}

// Path of Debian's chromium, overridable with DORMANT_CHROMIUM.
func chromiumPath() string {
	if p := os.Getenv("DORMANT_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// New starts Chromium. Outside CI a missing browser skips the test; in CI it fails it.
func New(t testing.TB) *Browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is required in CI (make test installs Debian's chromium package)")
		}
		t.Skip("chromium not installed (apt-get install chromium); set CI=true to make this a failure")
	}
	// The flags the machine needs: headless, no sandbox as root, and no background
	// networking (the network is closed and Chromium would keep trying).
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &Browser{t: t, Ctx: ctx, shotsDir: screenshotDir(t)}
}

// screenshotDir is where screenshots go: DORMANT_SCREENSHOT_DIR, or artifacts/screenshots
// at the top of the repository, which CI lists at the end of its log.
func screenshotDir(t testing.TB) string {
	dir := os.Getenv("DORMANT_SCREENSHOT_DIR")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	return dir
}

// Do runs chromedp actions, failing the test on error.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// Value runs an action that returns a value, failing the test on error.
func Value[T any](b *Browser, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.Ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

var unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)

// Screenshot saves the whole page as <test>-<name>.png (quality 100 makes Chromium encode
// PNG rather than JPEG) and returns the path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	png := Value(b, chromedp.FullScreenshot(100))
	base := unsafeName.ReplaceAllString(strings.ToLower(b.t.Name()+"-"+name), "-")
	path := filepath.Join(b.shotsDir, base+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("write screenshot: %v", err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// Text returns the visible text of the first element matching the CSS selector sel.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	return Value(b, chromedp.Text(chromedp.CSS(sel)))
}
