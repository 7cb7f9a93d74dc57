// Package fleet owns the test fleet the load and fault runs buy with (bench/, faults/): a card file of
// made-up, Luhn-valid numbers in a range no demo or real card uses, the one phone that `acs demo seed`
// registers all of them on (demo.fleet_cards, demo.fleet_phone), that phone's signed calls to the app
// API, and a pool that hands the cards out within the ACS's push limits.
package fleet

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"example.com/acs/acs"
	"example.com/acs/appapi"
	"example.com/acs/cards"
)

// bin starts every fleet card number: the demo's Visa test range (testdata/cards.csv uses
// 400011 0…), with a 9 after it so that no fleet card is ever a demo card. Never a real card's number.
const bin = "4000119"

// PAN is the n-th fleet card number: 16 digits, Luhn-valid. Its last four digits (n's last three and
// the check digit) tell the fleet's cards apart by their masked number for n < 1000.
func PAN(n int) string {
	body := fmt.Sprintf("%s%08d", bin, n)
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

// Write writes an issuer card file (the CSV of `acs import-cards`) of n active fleet cards with
// made-up holders.
func Write(w io.Writer, n int) error {
	if n < 1 || n > 1000 {
		return fmt.Errorf("cards: 1 to 1000 fleet cards, not %d", n)
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"pan", "expiry", "status", "product", "holder_name", "date_of_birth", "street", "postal_code", "city", "country"})
	for i := range n {
		name := firstNames[i%len(firstNames)] + " " + lastNames[(i/len(firstNames))%len(lastNames)]
		_ = cw.Write([]string{PAN(i), Expiry, "active", "debit", name, "1980-05-17", "Teststraße " + strconv.Itoa(i+1),
			"10115", "Berlin", "DE"})
	}
	cw.Flush()
	return cw.Error()
}

// WriteFile writes the card file of n fleet cards to path, readable by its owner only.
func WriteFile(path string, n int) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := Write(f, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Expiry is every fleet card's expiry (import-cards form) and AReqExpiry its AReq form (YYMM).
const (
	Expiry     = "2030-12"
	AReqExpiry = "3012"
)

// Phone is the bank's app on the fleet's one phone (`acs demo seed` with demo.fleet_cards): it signs
// every request with the device key, as cmd/acs-app does, lists a card's waiting confirmations and
// answers one.
type Phone struct {
	Base   string // the ACS's base URL
	Client *http.Client
	Key    *ecdsa.PrivateKey // the device key
	PIN    string
}

// Card is a card of the fleet: the number the merchant's AReq carries and the card id the app knows.
type Card struct {
	PAN    string
	ID     uuid.UUID
	Masked string
	uses   int  // purchases started with it in this run (Pool)
	busy   bool // a client is using it (Pool)
}

// Load reads the phone's state file and matches its cards to the numbers of the fleet's card file
// by their masked numbers (unique in the fleet, see fleetPAN).
func Load(statePath, cardsPath string) (*ecdsa.PrivateKey, []*Card, error) {
	b, err := os.ReadFile(statePath)
	if err != nil {
		return nil, nil, err
	}
	var st appapi.DeviceState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", statePath, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(st.DeviceKey)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil, nil, fmt.Errorf("%s: no P-256 device key", statePath)
	}
	ids := map[string]uuid.UUID{}
	for _, c := range st.Cards {
		id, err := uuid.Parse(c.CardID)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: card id: %w", statePath, err)
		}
		ids[c.Card] = id
	}
	raw, err := os.ReadFile(cardsPath)
	if err != nil {
		return nil, nil, err
	}
	var fleet []*Card
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		pan, _, _ := strings.Cut(line, ",")
		if i == 0 || !cards.Luhn(pan) {
			continue
		}
		m := cards.Mask(pan[:6], pan[len(pan)-4:], len(pan))
		id, ok := ids[m]
		if !ok || seen[m] {
			return nil, nil, fmt.Errorf("card %s of %s is not on the phone, or not once", m, cardsPath)
		}
		seen[m] = true
		fleet = append(fleet, &Card{PAN: pan, ID: id, Masked: m})
	}
	if len(fleet) == 0 {
		return nil, nil, errors.New("the fleet has no cards")
	}
	return key, fleet, nil
}

// call sends a signed JSON request; it returns the HTTP status (0 without an answer) and decodes a 2xx
// answer into out.
func (p *Phone) call(path string, in, out any) (int, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(http.MethodPost, p.Base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := appapi.Sign(req, body, p.Key, time.Now()); err != nil {
		return 0, err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
	}
	return resp.StatusCode, json.Unmarshal(raw, out)
}

// Pending lists the card's waiting confirmations. Like the real app it refuses a confirmation whose data
// to sign differ from the data shown.
func (p *Phone) Pending(card *Card) ([]appapi.ConfirmationView, int, error) {
	var res appapi.ConfirmationsResponse
	status, err := p.call("/app/v1/confirmations", appapi.ConfirmationsRequest{CardID: card.ID}, &res)
	if err != nil {
		return nil, status, err
	}
	for _, v := range res.Confirmations {
		if !bytes.Equal(v.Confirmation.Canonical(), v.Canonical) {
			return nil, status, fmt.Errorf("confirmation %s: the data to sign differ from the data shown", v.ID)
		}
	}
	return res.Confirmations, status, nil
}

// Wait long-polls the card's confirmations (/app/v1/confirmations/wait, held up to 25 s).
func (p *Phone) Wait(card *Card) (int, error) {
	var res appapi.ConfirmationsResponse
	return p.call("/app/v1/confirmations/wait", appapi.ConfirmationsRequest{CardID: card.ID}, &res)
}

// Approve signs the confirmation and approves it with the app PIN.
func (p *Phone) Approve(card *Card, v appapi.ConfirmationView) (appapi.AnswerResponse, int, error) {
	sum := sha256.Sum256(v.Canonical)
	sig, err := ecdsa.SignASN1(rand.Reader, p.Key, sum[:])
	if err != nil {
		return appapi.AnswerResponse{}, 0, err
	}
	var res appapi.AnswerResponse
	status, err := p.call("/app/v1/confirmations/answer", appapi.AnswerRequest{CardID: card.ID, ConfirmationID: v.ID,
		Decision: "approve", UserVerification: "pin", PIN: p.PIN, Signature: sig}, &res)
	return res, status, err
}

// PIN is the app PIN `acs demo seed` gives the fleet's cards (the demo phone's, see README).
const PIN = "4821"

// Pool hands out fleet cards, each to one client at a time and at most acs.MaxPushesPerWindow times in a
// run: the ACS sends a card's app no more confirmations in ten minutes, and a run is shorter.
type Pool struct {
	mu    sync.Mutex
	cards []*Card
	next  int
}

// NewPool returns a pool of the cards.
func NewPool(cards []*Card) *Pool { return &Pool{cards: cards} }

// ErrNoCards says the run needs more cards than the fleet has pushes left for.
var ErrNoCards = errors.New("the fleet's cards are used up for this run: seed more")

// Take hands out a card no other client has, with a push left.
func (c *Pool) Take() (*Card, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range c.cards {
		card := c.cards[c.next]
		c.next = (c.next + 1) % len(c.cards)
		if card.uses < acs.MaxPushesPerWindow && !card.busy {
			card.uses++
			card.busy = true
			return card, nil
		}
	}
	return nil, ErrNoCards
}

// Give returns a card; pushed says whether its purchase reached the app (a CReq was sent), which uses
// one of the card's pushes up.
func (c *Pool) Give(card *Card, pushed bool) {
	c.mu.Lock()
	card.busy = false
	if !pushed {
		card.uses--
	}
	c.mu.Unlock()
}
