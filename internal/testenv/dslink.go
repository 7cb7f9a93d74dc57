package testenv

import (
	"testing"

	"example.com/acs/dslink"
)

// LoopbackDS is a link to Directory Servers played on loopback by the tests (any port, plain http): the
// development configuration's allow-list. RReqs go to the AReq's dsURL, which the simulator sets to its
// own endpoint.
func LoopbackDS(t testing.TB) *dslink.Link {
	t.Helper()
	hosts := []string{"127.0.0.1:*", "localhost:*"}
	l, err := dslink.New(dslink.Config{PlainLoopback: true, DSs: []dslink.DS{{Scheme: "visa", Hosts: hosts},
		{Scheme: "mastercard", Hosts: hosts}}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}
