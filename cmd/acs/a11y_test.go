package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Accessibility (issue 18, WCAG 2.1 AA as the BFSG asks of consumer banking and e-commerce): axe-core,
// the npm package pinned in testdata/axe (installed by scripts/devenv.sh test, never downloaded at run
// time), is put into every document a test tab loads, the challenge's frame included, before the page's
// own scripts (DevTools injects it, so the pages' CSP needs no exception), and e.axe runs it.

// axeSource reads axe.min.js; "" when it is not installed (the tests then fail under ACS_E2E).
func axeSource() (string, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "axe", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		return "", fmt.Errorf("axe-core is not installed (scripts/devenv.sh test runs npm ci in cmd/acs/testdata/axe): %w", err)
	}
	return string(b), nil
}

// injectAxe makes every new document of the tab carry axe.
func injectAxe(src string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(src).Do(ctx)
		return err
	})
}

// axeTags are the rules checked: WCAG 2.0 and 2.1, levels A and AA.
const axeTags = `["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]`

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axe checks the tab's page, or with inFrame the challenge frame's document, and fails the test on any
// WCAG 2.1 A/AA violation, naming the rule, the help text and the elements.
func (e *e2e) axe(ctx context.Context, what string, inFrame bool) {
	e.t.Helper()
	win, doc := "window", "document"
	if inFrame {
		win, doc = `document.getElementById("challenge").contentWindow`, frameDoc
	}
	js := fmt.Sprintf(`(async () => {
		const w = %s;
		if (!w || !w.axe) return "axe is not loaded";
		const r = await w.axe.run(%s, {runOnly: {type: "tag", values: %s}, resultTypes: ["violations"]});
		return JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + ": " + (n.failureSummary || "").split("\n").slice(1, 2).join(""))})));
	})()`, win, doc, axeTags)
	var out string
	e.run(ctx, "axe "+what, chromedp.Evaluate(js, &out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		e.t.Errorf("axe %s: %s", what, out)
		return
	}
	for _, v := range vs {
		e.t.Errorf("axe %s: %s (%s): %s: %s", what, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "; "))
	}
}
