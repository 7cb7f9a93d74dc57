package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// figure is one measured value; a figure with a bar passes or fails, one without informs.
type figure struct {
	name, value, bar string
	hasBar, ok       bool
}

// scenario collects a scenario's figures.
type scenario struct {
	name    string
	figures []figure
}

func (s *scenario) info(name, format string, args ...any) {
	s.figures = append(s.figures, figure{name: name, value: fmt.Sprintf(format, args...)})
}

// bar records a figure against its bar.
func (s *scenario) bar(name, value, bar string, ok bool) {
	s.figures = append(s.figures, figure{name: name, value: value, bar: bar, hasBar: true, ok: ok})
}

// zero records a count whose bar is 0, naming the first few cases.
func (s *scenario) zero(name string, cases []string) {
	v := fmt.Sprint(len(cases))
	if len(cases) > 0 {
		v += " (" + strings.Join(cases[:min(3, len(cases))], "; ") + ")"
	}
	s.bar(name, v, "0", len(cases) == 0)
}

func (s *scenario) failed() bool {
	for _, f := range s.figures {
		if f.hasBar && !f.ok {
			return true
		}
	}
	return false
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// printFigures writes the figures: a heading per scenario, then a row per figure (measured values
// longer than a column are wrapped).
func printFigures(w io.Writer, all []*scenario) {
	const maxMeasured = 64
	wName, wValue, wBar := len("figure"), len("measured"), len("bar")
	for _, s := range all {
		for _, f := range s.figures {
			wName = max(wName, utf8.RuneCountInString(f.name))
			wValue = max(wValue, min(maxMeasured, utf8.RuneCountInString(f.value)))
			wBar = max(wBar, utf8.RuneCountInString(f.bar))
		}
	}
	pad := func(s string, n int) string { return s + strings.Repeat(" ", max(0, n-utf8.RuneCountInString(s))) }
	row := func(name, value, bar, res string) {
		lines := wrap(value, maxMeasured)
		fmt.Fprintf(w, "  %s  %s  %s  %s\n", pad(name, wName), pad(lines[0], wValue), pad(bar, wBar), res)
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "  %s  %s\n", pad("", wName), l)
		}
	}
	for _, s := range all {
		fmt.Fprintf(w, "%s\n", s.name)
		row("figure", "measured", "bar", "result")
		for _, f := range s.figures {
			res := ""
			if f.hasBar {
				res = "ok"
				if !f.ok {
					res = "FAILED"
				}
			}
			row(f.name, f.value, f.bar, res)
		}
		fmt.Fprintln(w)
	}
}

// wrap breaks s into lines of at most n characters, at spaces where it can.
func wrap(s string, n int) []string {
	var lines []string
	r := []rune(s)
	for len(r) > n {
		cut := n
		for i := n; i > n/2; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		lines = append(lines, string(r[:cut]))
		r = []rune(strings.TrimLeft(string(r[cut:]), " "))
	}
	return append(lines, string(r))
}
