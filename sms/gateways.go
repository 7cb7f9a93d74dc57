package sms

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
)

// Kannel sends through a Kannel gateway's HTTP interface (smsbox, /cgi-bin/sendsms).
type Kannel struct {
	// URL of the sendsms endpoint, e.g. http://127.0.0.1:13013/cgi-bin/sendsms.
	URL      string
	Username string
	Password string
	// From is the sender id shown on the phone (the bank's short name).
	From   string
	Client *http.Client
}

var _ Gateway = (*Kannel)(nil)

// Send asks Kannel to deliver text. Kannel answers 202 "0: Accepted for delivery" (or 200 "Sent."); a
// 4xx answer is a refusal of this message and is not retried; anything else is retried.
func (k *Kannel) Send(ctx context.Context, to, text string) (string, error) {
	q := url.Values{
		"username": {k.Username}, "password": {k.Password}, "from": {k.From},
		// Kannel wants the number without the plus in many set-ups; 00 is the international prefix it
		// understands everywhere.
		"to":   {"00" + strings.TrimPrefix(to, "+")},
		"text": {text}, "charset": {"UTF-8"}, "coding": {"2"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.URL+"?"+q.Encode(), nil)
	if err != nil {
		return "", &PermanentError{fmt.Errorf("kannel: bad URL: %w", err)}
	}
	client := k.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		// The error names the URL with the query (number, text, password): say only what failed.
		if ue, ok := err.(*url.Error); ok {
			return "", fmt.Errorf("kannel: %s request failed: %v", ue.Op, ue.Err)
		}
		return "", fmt.Errorf("kannel: request failed")
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	answer := strings.TrimSpace(string(b))
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK:
		return answer, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return "", &PermanentError{fmt.Errorf("kannel: %d %s", resp.StatusCode, answer)}
	default:
		return "", fmt.Errorf("kannel: %d %s", resp.StatusCode, answer)
	}
}

// DevInbox is the development gateway: it "sends" by writing the text, with the number masked, to the
// table behind the local SMS inbox page. It is chosen only by a development configuration.
type DevInbox struct {
	Pool  *pgxpool.Pool
	Clock clockwork.Clock
}

var _ Gateway = (*DevInbox)(nil)

// Send records the message.
func (d *DevInbox) Send(ctx context.Context, to, text string) (string, error) {
	var id int64
	err := d.Pool.QueryRow(ctx, `INSERT INTO dev_sms_inbox (to_masked, body, sent_at) VALUES ($1, $2, $3) RETURNING id`,
		MaskNumber(to), text, d.Clock.Now()).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("dev inbox: %w", err)
	}
	return fmt.Sprintf("dev-%d", id), nil
}
