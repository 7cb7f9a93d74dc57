package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"example.com/acs/cards"
)

// table collects one line per scenario and prints them aligned, as Markdown (pasted into the README).
type table struct{ rows [][]string }

func newTable() *table {
	return &table{rows: [][]string{{"scenario", "ops/s", "p50", "p99", "p99.9", "max", "floor commits/s", "ratio",
		"statements/op", "commits/op", "HSM calls/op", "CPU/op ACS + PostgreSQL (+ load tool)"}}}
}

func (t *table) add(name string, r, fl result, ratio float64, c counters) {
	n := float64(r.ops)
	if n == 0 {
		n = 1
	}
	per := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)/n) }
	t.rows = append(t.rows, []string{name, fmt.Sprintf("%.0f", r.opsPerSec()), ms(r.quantile(50)), ms(r.quantile(99)),
		ms(r.quantile(99.9)), ms(r.max()), fmt.Sprintf("%.0f", fl.opsPerSec()), fmt.Sprintf("%.3f", ratio),
		fmt.Sprintf("%.1f", float64(c.statements)/n), fmt.Sprintf("%.1f", float64(c.commits)/n), fmt.Sprintf("%.1f", float64(c.hsm)/n),
		per(c.acsCPU) + " + " + per(c.pgCPU) + " (+ " + per(c.benchCPU) + ") ms"})
}

func (t *table) print() {
	fmt.Println()
	for i, r := range t.rows {
		fmt.Println("| " + strings.Join(r, " | ") + " |")
		if i == 0 {
			fmt.Println(strings.Repeat("| --- ", len(r)) + "|")
		}
	}
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

// writeCardFile writes n distinct Luhn-valid Visa cards of the test range 400099 in the issuer file
// format.
func writeCardFile(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, strings.Join(cards.FileColumns, ","))
	for i := range n {
		body := fmt.Sprintf("400099%09d", i)
		pan := ""
		for d := byte('0'); d <= '9' && pan == ""; d++ {
			if cards.Luhn(body + string(d)) {
				pan = body + string(d)
			}
		}
		fmt.Fprintf(w, "%s,2030-01,active,credit,Erika Mustermann,1980-01-01,Heidestraße 17,51147,Köln,DE\n", pan)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
