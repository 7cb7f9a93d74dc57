package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"example.com/acs/cards"
)

// fleetBIN starts every fleet card number: the demo's Visa test range (testdata/cards.csv uses
// 400011 0…), with a 9 after it so that no fleet card is ever a demo card. Never a real card's number.
const fleetBIN = "4000119"

// fleetPAN is the n-th fleet card number: 16 digits, Luhn-valid. Its last four digits (n's last three and
// the check digit) tell the fleet's cards apart by their masked number for n < 1000.
func fleetPAN(n int) string {
	body := fmt.Sprintf("%s%08d", fleetBIN, n)
	for d := 0; d <= 9; d++ {
		if pan := body + strconv.Itoa(d); cards.Luhn(pan) {
			return pan
		}
	}
	panic("unreachable: one check digit always fits")
}

var (
	firstNames = []string{"Anna", "Ben", "Clara", "David", "Emma", "Finn", "Greta", "Hannah", "Ida", "Jan", "Karla", "Lukas", "Mia",
		"Nils", "Olga", "Paul", "Rosa", "Sven", "Tilda", "Uwe"}
	lastNames = []string{"Becker", "Fischer", "Hoffmann", "Koch", "Lange", "Meyer", "Neumann", "Otto", "Peters", "Richter",
		"Schulz", "Vogel", "Wolf", "Zimmer", "Braun", "Krause", "Lorenz", "Roth", "Sauer", "Voigt"}
)

// writeFleet writes an issuer card file (the CSV of `acs import-cards`) of n active fleet cards with
// made-up holders.
func writeFleet(w io.Writer, n int) error {
	if n < 1 || n > 1000 {
		return fmt.Errorf("cards: 1 to 1000 fleet cards, not %d", n)
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"pan", "expiry", "status", "product", "holder_name", "date_of_birth", "street", "postal_code", "city", "country"})
	for i := range n {
		name := firstNames[i%len(firstNames)] + " " + lastNames[(i/len(firstNames))%len(lastNames)]
		_ = cw.Write([]string{fleetPAN(i), fleetExpiry, "active", "debit", name, "1980-05-17", "Teststraße " + strconv.Itoa(i+1),
			"10115", "Berlin", "DE"})
	}
	cw.Flush()
	return cw.Error()
}

// fleetExpiry is every fleet card's expiry (import-cards form) and cardExpiry its AReq form (YYMM).
const (
	fleetExpiry = "2030-12"
	cardExpiry  = "3012"
)
