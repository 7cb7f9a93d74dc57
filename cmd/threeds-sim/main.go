// Command threeds-sim plays a merchant's 3DS Server against a running ACS: it sends one AReq for a
// purchase, prints the ARes and, for a challenge, serves a checkout page that frames the ACS's challenge
// as a merchant's page does; then it prints the final CRes and the RReq the ACS sends. For development
// and demonstrations on loopback.
//
//	go run ./cmd/threeds-sim -pan 4000110000000017 -amount 49.90 -merchant Beispiel-Shop
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shopspring/decimal"

	"example.com/acs/internal/sim3ds"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("threeds-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	acsURL := fs.String("acs", "http://127.0.0.1:8080", "the ACS's base URL")
	listen := fs.String("listen", "127.0.0.1:8090", "where the simulator's checkout, notification and RReq endpoints listen")
	sample := fs.String("areq", "testdata/emv/areq-browser.json", "the AReq to start from")
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
	sim, err := sim3ds.StartOn(*acsURL, *listen)
	if err != nil {
		fmt.Fprintln(stderr, "threeds-sim:", err)
		return 1
	}
	defer sim.Close()
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
