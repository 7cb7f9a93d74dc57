package testenv

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"example.com/acs/dslink"
	"example.com/acs/registration"
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

// Current is the id of the card's registration in progress (or, if none, its active one), as the
// portal's flow token carries it into the number confirmation.
func Current(t testing.TB, reg *registration.Registrar, cardID uuid.UUID) uuid.UUID {
	t.Helper()
	r, err := reg.Current(context.Background(), cardID)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}
