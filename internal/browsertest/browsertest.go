// Package browsertest starts the headless Chromium that curfew's browser
// tests (the notice page, the console) drive with chromedp.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Path finds Debian's chromium. Without it the test skips, unless
// CURFEW_REQUIRE_NETNS=1 (CI, which installs it) makes that a failure.
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CURFEW_REQUIRE_NETNS") == "1" {
		t.Fatal("chromium is not installed, and CURFEW_REQUIRE_NETNS=1 requires the browser test (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping the browser test")
	return ""
}

// Allocator returns a chromedp allocator context for a headless Chromium
// at path with a fresh profile, a window width × height, English, and
// nothing that reaches out to the network by itself; it ends with the
// test.
func Allocator(t testing.TB, path string, width, height int) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	t.Cleanup(cancel)
	return ctx
}
