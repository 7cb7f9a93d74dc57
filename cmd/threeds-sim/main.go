// Command threeds-sim plays a merchant's 3DS Server and the scheme's Directory Server against a running
// ACS: it sends one AReq for a purchase (in the protocol version asked for), prints the ARes and, for a
// challenge, serves a checkout page that frames the ACS's challenge as a merchant's page does; then it
// prints the final CRes and the RReq the ACS sends to it as the DS (over mutual TLS with -pki), and
// every message that broke its version's element table. For development and demonstrations on loopback.
//
//	go run ./cmd/threeds-sim -pan 4000110000000017 -amount 49.90 -merchant Beispiel-Shop -version 2.3.1
//	go run ./cmd/threeds-sim -pki .local/run/pki     # the DS endpoint on https, client certificate required
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shopspring/decimal"

	"example.com/acs/internal/devpki"
	"example.com/acs/internal/sim3ds"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("threeds-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	acsURL := fs.String("acs", "http://127.0.0.1:8080", "the ACS's base URL")
	listen := fs.String("listen", "127.0.0.1:8090", "where the simulator's checkout, notification and RReq endpoints listen")
	sample := fs.String("areq", "", "the AReq to start from (default: testdata/emv/areq-browser[-VERSION].json)")
	version := fs.String("version", "2.2.0", "protocol version: 2.1.0, 2.2.0 or 2.3.1")
	pki := fs.String("pki", "", "folder of `acs pki dev`: serve the DS's RReq endpoint on https with mutual TLS")
	pan := fs.String("pan", "4000110000000017", "card number (a demo card from testdata/cards.csv)")
	amount := fs.String("amount", "49.90", "purchase amount in EUR")
	merchant := fs.String("merchant", "Beispiel-Shop", "merchant name")
	window := fs.String("window", "03", "challengeWindowSize 01..05")
	wait := fs.Duration("wait", 10*time.Minute, "how long to wait for the challenge's end")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	amt, err := decimal.NewFromString(*amount)
	if err != nil || amt.IsNegative() {
		fmt.Fprintln(stderr, "threeds-sim: -amount must be a decimal amount such as 49.90")
		return 2
	}
	if *sample == "" {
		*sample = "testdata/emv/areq-browser.json"
		if *version != "2.2.0" {
			*sample = "testdata/emv/areq-browser-" + *version + ".json"
		}
	}
	sim, err := sim3ds.StartOn(*acsURL, *listen)
	if err != nil {
		fmt.Fprintln(stderr, "threeds-sim:", err)
		return 1
	}
	defer sim.Close()
	defer func() {
		for _, p := range sim.Problems() {
			fmt.Fprintln(stderr, "threeds-sim: not as the specification's tables say:", p)
		}
	}()
	if *pki != "" {
		f := devpki.In(*pki)
		cert, err := f.DSServer()
		roots, err2 := f.Roots()
		if err != nil || err2 != nil {
			fmt.Fprintln(stderr, "threeds-sim: -pki: run `acs pki dev` first:", err, err2)
			return 1
		}
		if err := sim.ServeDS(cert, roots); err != nil {
			fmt.Fprintln(stderr, "threeds-sim:", err)
			return 1
		}
		fmt.Fprintf(stdout, "DS endpoint (mutual TLS): %s\n", sim.DSURL())
	}
	areq, err := sim.AReq(*sample, map[string]any{"acctNumber": *pan, "purchaseAmount": amt.Shift(2).Truncate(0).String(),
		"merchantName": *merchant, "purchaseDate": time.Now().UTC().Format("20060102150405")})
	if err != nil {
		fmt.Fprintln(stderr, "threeds-sim:", err)
		return 1
	}
	status, ares, err := sim.Send(areq)
	if err != nil {
		fmt.Fprintln(stderr, "threeds-sim: AReq:", err)
		return 1
	}
	show(stdout, fmt.Sprintf("ARes (HTTP %d)", status), ares)
	if ares["transStatus"] != "C" {
		return 0
	}
	fmt.Fprintf(stdout, "\nChallenge: open this checkout page in a browser within 30 seconds:\n\n    %s\n\n", sim.Checkout(ares, *window))
	id := fmt.Sprint(ares["threeDSServerTransID"])
	deadline := time.Now().Add(*wait)
	var seenCRes, seenRReq bool
	for time.Now().Before(deadline) && !(seenCRes && seenRReq) {
		time.Sleep(300 * time.Millisecond)
		if c := sim.CRes(id); len(c) > 0 && !seenCRes {
			seenCRes = true
			show(stdout, "final CRes (posted by the browser to the notificationURL)", c[0].Message)
		}
		if r := sim.RReqs(id); len(r) > 0 && !seenRReq {
			seenRReq = true
			show(stdout, "RReq (sent by the ACS, answered with RRes)", r[0].Message)
		}
	}
	if !(seenCRes && seenRReq) {
		fmt.Fprintln(stderr, "threeds-sim: the challenge did not end in time")
		return 1
	}
	return 0
}

func show(w io.Writer, title string, m map[string]any) {
	b, _ := json.MarshalIndent(m, "", "  ")
	fmt.Fprintf(w, "%s:\n%s\n", title, b)
}
