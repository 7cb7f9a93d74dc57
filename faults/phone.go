package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"example.com/acs/appapi"
	"example.com/acs/cards"
)

// phone is the bank's app on the fleet's one phone (`acs demo seed` with demo.fleet_cards): it signs
// every request with the device key, as cmd/acs-app does, lists a card's waiting confirmations and
// answers one.
type phone struct {
	base   string
	client *http.Client
	key    *ecdsa.PrivateKey
	pin    string
}

// fleetCard is a card of the fleet: the number the merchant's AReq carries and the card id the app knows.
type fleetCard struct {
	pan    string
	id     uuid.UUID
	masked string
	uses   int  // purchases started with it in this run
	busy   bool // a client is using it
}

// loadFleet reads the phone's state file and matches its cards to the numbers of the fleet's card file
// by their masked numbers (unique in the fleet, see fleetPAN).
func loadFleet(statePath, cardsPath string) (*ecdsa.PrivateKey, []*fleetCard, error) {
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
	var fleet []*fleetCard
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
		fleet = append(fleet, &fleetCard{pan: pan, id: id, masked: m})
	}
	if len(fleet) == 0 {
		return nil, nil, errors.New("the fleet has no cards")
	}
	return key, fleet, nil
}

// call sends a signed JSON request; it returns the HTTP status (0 without an answer) and decodes a 2xx
// answer into out.
func (p *phone) call(path string, in, out any) (int, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(http.MethodPost, p.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := appapi.Sign(req, body, p.key, time.Now()); err != nil {
		return 0, err
	}
	resp, err := p.client.Do(req)
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

// pending lists the card's waiting confirmations. Like the real app it refuses a confirmation whose data
// to sign differ from the data shown.
func (p *phone) pending(card *fleetCard) ([]appapi.ConfirmationView, int, error) {
	var res appapi.ConfirmationsResponse
	status, err := p.call("/app/v1/confirmations", appapi.ConfirmationsRequest{CardID: card.id}, &res)
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

// wait long-polls the card's confirmations (/app/v1/confirmations/wait, held up to 25 s).
func (p *phone) wait(card *fleetCard) (int, error) {
	var res appapi.ConfirmationsResponse
	return p.call("/app/v1/confirmations/wait", appapi.ConfirmationsRequest{CardID: card.id}, &res)
}

// approve signs the confirmation and approves it with the app PIN.
func (p *phone) approve(card *fleetCard, v appapi.ConfirmationView) (appapi.AnswerResponse, int, error) {
	sum := sha256.Sum256(v.Canonical)
	sig, err := ecdsa.SignASN1(rand.Reader, p.key, sum[:])
	if err != nil {
		return appapi.AnswerResponse{}, 0, err
	}
	var res appapi.AnswerResponse
	status, err := p.call("/app/v1/confirmations/answer", appapi.AnswerRequest{CardID: card.id, ConfirmationID: v.ID,
		Decision: "approve", UserVerification: "pin", PIN: p.pin, Signature: sig}, &res)
	return res, status, err
}
