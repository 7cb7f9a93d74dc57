package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sync"

	"example.com/acs/apperr"
	"example.com/acs/config"
	"example.com/acs/letters"
	"example.com/acs/registration"
	"example.com/acs/sms"
)

// demoCard is the demo cardholder whose card `acs demo seed` registers for mTAN, so that a purchase can
// be walked through at once. The data are in testdata/cards.csv and the README; never real ones.
var demoCard = registration.HolderData{PAN: "4000110000000017", ExpiryMonth: 9, ExpiryYear: 2029, Name: "Anna Schmidt"}

const (
	demoMobile   = "+4915112345678"
	demoQuestion = "birthplace"
	demoAnswer   = "Kiel"
)

// captureGateway delivers to the development inbox and keeps the texts, so the seed can read the
// number-confirmation code as the cardholder would on the phone.
type captureGateway struct {
	inbox *sms.DevInbox
	mu    sync.Mutex
	texts []string
}

func (g *captureGateway) Send(ctx context.Context, to, text string) (string, error) {
	g.mu.Lock()
	g.texts = append(g.texts, text)
	g.mu.Unlock()
	return g.inbox.Send(ctx, to, text)
}

var confirmCode = regexp.MustCompile(`\b[0-9]{6}\b`)

// demoSeed registers the demo card for mTAN through the same steps a cardholder takes (card check, ID
// code letter, activation, number confirmation by SMS). Development only: it refuses unless SMS go to
// the development inbox. Running it again changes nothing.
func demoSeed(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
	if cfg.SMS.Gateway != "dev" {
		return errors.New("demo seed: only for development set-ups (sms.gateway: dev)")
	}
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	card, err := d.cards.FindByPAN(ctx, demoCard.PAN)
	if err != nil {
		return fmt.Errorf("demo seed: the demo card is not imported (acs import-cards testdata/cards.csv): %w", err)
	}
	if _, err := d.registration.Active(ctx, card.ID); err == nil {
		fmt.Fprintf(out, "demo seed: card %s is registered already\n", card.Masked())
		return nil
	} else if apperr.KindOf(err) != apperr.NotFound {
		return err
	}
	var code string
	lt := letters.New(letters.Deps{Pool: d.pool, Verifier: d.hsm, Cards: d.cards, Clock: d.clock, Log: log, Issuer: cfg.Issuer.Name,
		NewCode: func() (string, error) {
			c, err := letters.NewCode()
			code = c
			return c, err
		}})
	reg := registration.New(registration.Deps{Pool: d.pool, Cards: d.cards, Letters: lt, Data: d.keys, Keys: d.hsm,
		Outbox: sms.NewOutbox(d.keys, d.clock), Audit: d.audit, Clock: d.clock, Log: log, SMSPrice: d.smsPrice, Currency: cfg.SMS.Currency})
	if _, err := reg.VerifyCard(ctx, demoCard); err != nil {
		return err
	}
	if _, err := reg.RequestMTAN(ctx, card, registration.MTANRequest{Mobile: demoMobile, Question: demoQuestion, Answer: demoAnswer,
		AcceptPrice: true}); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Letters.OutDir, 0o700); err != nil {
		return err
	}
	if _, err := lt.Batch(ctx, cfg.Letters.OutDir); err != nil {
		return err
	}
	if _, err := reg.Activate(ctx, card.ID, code); err != nil {
		return err
	}
	gw := &captureGateway{inbox: &sms.DevInbox{Pool: d.pool, Clock: d.clock}}
	disp := &sms.Dispatcher{Pool: d.pool, Keys: d.keys, Gateway: gw, Clock: d.clock, Log: log, MaxAttempts: 1, Backoff: cfg.SMS.Backoff}
	if _, _, err := disp.DispatchOnce(ctx); err != nil {
		return err
	}
	gw.mu.Lock()
	var confirm string
	if n := len(gw.texts); n > 0 {
		confirm = confirmCode.FindString(gw.texts[n-1])
	}
	gw.mu.Unlock()
	if _, err := reg.ConfirmNumber(ctx, card.ID, confirm); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo seed: card %s (%s) registered for mTAN; SMS go to the inbox at /dev/sms\n", card.Masked(), demoCard.Name)
	return nil
}
