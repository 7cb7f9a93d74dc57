package main

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"example.com/acs/acs"
	"example.com/acs/appapi"
)

// currencyNames shows ISO 4217 numeric codes as people read them.
var currencyNames = map[string]string{"978": "EUR", "840": "USD", "826": "GBP", "756": "CHF", "392": "JPY"}

func show(w io.Writer, c acs.Confirmation) {
	cur := currencyNames[c.Currency]
	if cur == "" {
		cur = c.Currency
	}
	fmt.Fprintf(w, "%s  %s %s at %s, %s\n", c.ID, c.Amount.StringFixed(int32(c.Exponent)), cur, c.Merchant,
		c.Date.Local().Format("02.01.2006 15:04"))
}

// pending fetches the card's waiting confirmations (waiting up to 25 s for one when wait is set). The
// app rebuilds each canonical form from the fields it shows and refuses a server that would have it sign
// anything else.
func (a *app) pending(key *ecdsa.PrivateKey, c cardState, wait bool) ([]acs.Confirmation, error) {
	path := "/app/v1/confirmations"
	if wait {
		path += "/wait"
	}
	var res appapi.ConfirmationsResponse
	if err := a.call(key, path, appapi.ConfirmationsRequest{CardID: mustUUID(c.CardID)}, &res); err != nil {
		return nil, err
	}
	out := make([]acs.Confirmation, 0, len(res.Confirmations))
	for _, v := range res.Confirmations {
		if string(v.Confirmation.Canonical()) != string(v.Canonical) {
			return nil, fmt.Errorf("confirmation %s: the data to sign differ from the data shown; not signing", v.ID)
		}
		out = append(out, v.Confirmation)
	}
	return out, nil
}

func (a *app) cardFlags(name string, args []string, stderr io.Writer, more func(fs *flag.FlagSet)) (*state, *ecdsa.PrivateKey, cardState, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	last4 := fs.String("card", "", "last 4 digits of the card")
	if more != nil {
		more(fs)
	}
	if err := fs.Parse(args); err != nil || *last4 == "" {
		fs.Usage()
		return nil, nil, cardState{}, errUsage
	}
	st, key, err := a.load()
	if err != nil {
		return nil, nil, cardState{}, err
	}
	c, err := a.card(st, *last4)
	return st, key, c, err
}

func (a *app) listPending(args []string, stderr io.Writer) error {
	_, key, c, err := a.cardFlags("pending", args, stderr, nil)
	if err != nil {
		return err
	}
	list, err := a.pending(key, c, false)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(a.out, "no confirmations waiting")
	}
	for _, x := range list {
		show(a.out, x)
	}
	return nil
}

// watch waits for confirmations and shows each new one; -count ends after that many.
func (a *app) watch(args []string, stderr io.Writer) error {
	var count *int
	_, key, c, err := a.cardFlags("watch", args, stderr, func(fs *flag.FlagSet) {
		count = fs.Int("count", 0, "stop after this many confirmations (0: run until interrupted)")
	})
	if err != nil {
		return err
	}
	seen := map[uuid.UUID]bool{}
	fmt.Fprintf(a.out, "waiting for confirmations for card %s ...\n", c.Card)
	for *count == 0 || len(seen) < *count {
		list, err := a.pending(key, c, true)
		if err != nil {
			return err
		}
		for _, x := range list {
			if !seen[x.ID] {
				seen[x.ID] = true
				show(a.out, x)
			}
		}
		if len(list) > 0 {
			time.Sleep(time.Second) // the shown ones stay pending until answered
		}
	}
	return nil
}

// answer approves or declines a confirmation. Approval needs -pin or -biometric (-fail-biometric
// plays a failed or cancelled fingerprint or face check).
func (a *app) answer(approve bool, args []string, stderr io.Writer) error {
	name := map[bool]string{true: "approve", false: "decline"}[approve]
	var id, pin *string
	var bio, failBio *bool
	_, key, c, err := a.cardFlags(name, args, stderr, func(fs *flag.FlagSet) {
		id = fs.String("id", "", "the confirmation (default: the only one waiting)")
		pin = fs.String("pin", "", "confirm with the app PIN")
		bio = fs.Bool("biometric", false, "confirm with fingerprint or face")
		failBio = fs.Bool("fail-biometric", false, "simulate a failed biometric check")
	})
	if err != nil {
		return err
	}
	verification := ""
	switch {
	case *failBio:
		verification = string(acs.BiometricFailed)
	case *bio:
		verification = string(acs.VerifiedBiometric)
	case *pin != "":
		verification = string(acs.VerifiedPIN)
	case approve:
		return errors.New("approve needs -pin NNNN or -biometric")
	}
	list, err := a.pending(key, c, false)
	if err != nil {
		return err
	}
	var conf *acs.Confirmation
	for i := range list {
		if list[i].ID.String() == *id || (*id == "" && len(list) == 1) {
			conf = &list[i]
		}
	}
	if conf == nil {
		if len(list) == 0 {
			return errors.New("no confirmation waiting")
		}
		return errors.New("several confirmations wait: choose one with -id (see acs-app pending)")
	}
	show(a.out, *conf)
	sum := sha256.Sum256(conf.Canonical())
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		return err
	}
	decision := map[bool]string{true: "approve", false: "decline"}[approve]
	var res appapi.AnswerResponse
	if err := a.call(key, "/app/v1/confirmations/answer", appapi.AnswerRequest{CardID: mustUUID(c.CardID), ConfirmationID: conf.ID,
		Decision: decision, UserVerification: verification, PIN: *pin, Signature: sig}, &res); err != nil {
		return err
	}
	switch {
	case res.TransStatus == "Y":
		fmt.Fprintln(a.out, "approved: the purchase is confirmed")
	case res.Result == "identification_failed":
		fmt.Fprintln(a.out, "Identifikation fehlgeschlagen / identification failed: the purchase is not confirmed")
	default:
		fmt.Fprintln(a.out, "declined: the purchase is not confirmed")
	}
	return nil
}

// offlinePassword computes the offline password (R-AUTH-4) without the server: from the challenge
// number and the amount shown on the payment page, after the local PIN check.
func (a *app) offlinePassword(args []string, stderr io.Writer) error {
	var challenge, amount, currency, pin *string
	st, _, c, err := a.cardFlags("offline-password", args, stderr, func(fs *flag.FlagSet) {
		challenge = fs.String("challenge", "", "the challenge number the payment page shows")
		amount = fs.String("amount", "", "the amount the payment page shows, e.g. 49.90")
		currency = fs.String("currency", "978", "ISO 4217 numeric currency (978 EUR)")
		pin = fs.String("pin", "", "the app PIN")
	})
	if err != nil {
		return err
	}
	amt, perr := decimal.NewFromString(strings.ReplaceAll(*amount, ",", "."))
	if *challenge == "" || *pin == "" || perr != nil {
		return errors.New("offline-password needs -challenge, -amount and -pin")
	}
	if c.PINCheck == nil || !hmac.Equal(c.PINCheck, appapi.PINCheck(st.OfflineSecret, *pin)) {
		return errors.New("the PIN is not correct")
	}
	exp := int32(2)
	if *currency == "392" {
		exp = 0
	}
	fmt.Fprintf(a.out, "offline password: %s\n", acs.OfflinePassword(st.OfflineSecret, strings.TrimSpace(*challenge),
		amt.Shift(exp).IntPart(), *currency))
	return nil
}
