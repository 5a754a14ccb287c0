// Package graphiqltest drives the GraphiQL page of package graphiql in
// headless Chromium, for browser tests of this package and of the server
// wiring. It is test support: only _test.go files should import it.
package graphiqltest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// CSS selectors of GraphiQL 3's elements.
const (
	// ExecuteButton is the run button beside the query editor.
	ExecuteButton = ".graphiql-execute-button"
	// ResultPane is the read-only editor that shows the response.
	ResultPane = ".graphiql-response .result-window"
)

// browserTimeout bounds one browser session so that a broken page fails the
// test instead of hanging it. It is a safety net, not an assertion.
const browserTimeout = 2 * time.Minute

// Console collects what the page wrote to the browser console: console API
// calls, uncaught exceptions and browser log entries, including Content
// Security Policy violations. It is safe for concurrent use.
type Console struct {
	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

// Errors returns the messages of level error so far, and the uncaught
// exceptions, as text.
func (c *Console) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.messages {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			out = append(out, format(m))
		}
	}
	return out
}

// CSPViolations returns the Content-Security-Policy violations the browser
// reported so far, as text.
func (c *Console) CSPViolations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.messages {
		if strings.Contains(m.Text, "Content Security Policy") {
			out = append(out, format(m))
		}
	}
	return out
}

// All returns every message so far, as text.
func (c *Console) All() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.messages))
	for i, m := range c.messages {
		out[i] = format(m)
	}
	return out
}

// format gives the message and where it came from, cut to a readable length
// (a blocked data: URL can be many kilobytes).
func format(m chromedp.ConsoleMessage) string {
	s := m.String()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if m.URL != "" {
		s += " (" + m.URL + ")"
	}
	return s
}

func (c *Console) add(m chromedp.ConsoleMessage) {
	c.mu.Lock()
	c.messages = append(c.messages, m)
	c.mu.Unlock()
}

// NewBrowser starts headless Chromium with a fresh profile and returns the
// chromedp context of one tab and the Console that records it. It skips the
// test when the "chromium" binary is not on PATH. The browser is closed, and
// its profile removed, when the test ends; the context also ends after a
// generous safety timeout.
func NewBrowser(t testing.TB) (context.Context, *Console) {
	t.Helper()
	execPath, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("browser test skipped: no chromium on PATH (apt-get install -y chromium)")
	}
	profile := t.TempDir() // registered before the cancels below, so removed after Chromium exits
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 800),
	)
	ctx, cancelTimeout := context.WithTimeout(t.Context(), browserTimeout)
	t.Cleanup(cancelTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc) // waits for the browser process to exit
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)

	console := &Console{}
	messages := chromedp.Console(tabCtx) // starts the browser and subscribes now
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			console.add(m)
		}
	}()
	return tabCtx, console
}

// Execute clicks GraphiQL's run button and waits until the result pane
// contains want; it returns the pane's text. Call it after the page has
// loaded. It fails when the context ends first.
func Execute(ctx context.Context, want string) (string, error) {
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(ExecuteButton)),
		chromedp.Click(chromedp.CSS(ExecuteButton)),
	); err != nil {
		return "", fmt.Errorf("click %s: %w", ExecuteButton, err)
	}
	return WaitResult(ctx, want)
}

// WaitResult waits until GraphiQL's result pane contains want and returns the
// pane's text. It fails when the context ends first.
func WaitResult(ctx context.Context, want string) (string, error) {
	sel, _ := json.Marshal(ResultPane) // a JS string literal
	text, _ := json.Marshal(want)
	expr := fmt.Sprintf(`(() => { const el = document.querySelector(%s); return !!el && el.innerText.includes(%s); })()`, sel, text)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
		return "", fmt.Errorf("wait for %q in the result pane: %w", want, err)
	}
	return chromedp.Run(ctx, chromedp.Text(chromedp.CSS(ResultPane)))
}

// Screenshot saves a PNG of the page to the file named by the environment
// variable env, if it is set, so a person can look at it; it logs the path.
// It fails the test if the screenshot cannot be taken or written.
func Screenshot(t testing.TB, ctx context.Context, env string) {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("write screenshot: %v", err)
	}
	t.Logf("screenshot written to %s", path)
}

// Page drives one page in a browser from NewBrowser, failing t with the
// page's text and console when a step fails.
type Page struct {
	T       testing.TB
	Ctx     context.Context
	Console *Console
}

// Fail fails the test with the page's text and everything the console
// printed.
func (p Page) Fail(format string, args ...any) {
	p.T.Helper()
	text, _ := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	p.T.Fatalf(format+"\npage text:\n%s\nconsole:\n%s", append(args, text, strings.Join(p.Console.All(), "\n"))...)
}

// WaitJS polls a JavaScript boolean expression until it holds.
func (p Page) WaitJS(what, expr string) {
	p.T.Helper()
	if _, err := chromedp.Run(p.Ctx, chromedp.Poll[bool](expr)); err != nil {
		p.Fail("waiting for %s: %v", what, err)
	}
}

// Do runs actions on the page.
func (p Page) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	if err := chromedp.Do(p.Ctx, actions...); err != nil {
		p.Fail("%s: %v", what, err)
	}
}
