package push

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
	"github.com/go-jose/go-jose/v4/jwt"
)

// APNs sends through Apple's push service over HTTP/2 with token-based authentication: a provider
// JWT (ES256 with the team's .p8 key, "kid" the key id, "iss" the team id, "iat"), renewed every 40
// minutes (Apple refuses one older than an hour and one renewed more often than every 20 minutes),
// then POST /3/device/{token} with apns-topic (the app's bundle id), apns-push-type alert, priority
// 10 and an expiry of 10 minutes.
type APNs struct {
	URL    string // https://api.push.apple.com (development: https://api.sandbox.push.apple.com)
	Topic  string // the app's bundle id
	KeyID  string
	TeamID string
	Key    crypto.Signer // ECDSA P-256
	Client *http.Client  // must speak HTTP/2, as APNs does nothing else
	Now    func() time.Time

	mu     sync.Mutex
	jwt    string
	issued time.Time
}

// apnsRenew is how long a provider token is used.
const apnsRenew = 40 * time.Minute

// LoadAPNsKey reads the .p8 file Apple hands out (PEM, PKCS #8, P-256).
func LoadAPNsKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("push: %s holds no PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("push: %s: not an APNs (P-256) key", path)
	}
	return key, nil
}

// apnsText is what the notification shows: that a payment waits, nothing about it (it passes Apple).
const apnsText = "Eine Zahlung wartet auf Ihre Bestätigung. / A payment is waiting for your confirmation."

// Send posts one alert notification carrying the confirmation's id.
func (a *APNs) Send(ctx context.Context, token string, m Message) error {
	body, _ := json.Marshal(map[string]any{
		"aps":             map[string]any{"alert": map[string]string{"body": apnsText}, "sound": "default"},
		"type":            "confirmation",
		"confirmation_id": m.ConfirmationID.String()})
	for attempt := 0; ; attempt++ {
		provider, err := a.providerToken()
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(a.URL, "/")+"/3/device/"+url.PathEscape(token),
			bytes.NewReader(body))
		if err != nil {
			return err
		}
		h := req.Header
		h.Set("authorization", "bearer "+provider)
		h.Set("apns-topic", a.Topic)
		h.Set("apns-push-type", "alert")
		h.Set("apns-priority", "10")
		h.Set("apns-expiration", strconv.FormatInt(a.Now().Add(10*time.Minute).Unix(), 10))
		h.Set("content-type", "application/json")
		resp, err := a.Client.Do(req)
		if err != nil {
			return err
		}
		var reason struct {
			Reason string `json:"reason"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&reason)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode == http.StatusForbidden && (reason.Reason == "ExpiredProviderToken" || reason.Reason == "InvalidProviderToken") && attempt == 0:
			a.mu.Lock()
			a.jwt = "" // a new provider token, once
			a.mu.Unlock()
			continue
		case resp.StatusCode == http.StatusGone, reason.Reason == "BadDeviceToken", reason.Reason == "Unregistered",
			reason.Reason == "DeviceTokenNotForTopic":
			return ErrTokenInvalid
		}
		return fmt.Errorf("APNs: HTTP %d %s", resp.StatusCode, reason.Reason)
	}
}

func (a *APNs) providerToken() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.Now()
	if a.jwt != "" && now.Sub(a.issued) < apnsRenew {
		return a.jwt, nil
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: cryptosigner.Opaque(a.Key)}, (&jose.SignerOptions{}).WithHeader("kid", a.KeyID))
	if err != nil {
		return "", err
	}
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: a.TeamID, IssuedAt: jwt.NewNumericDate(now)}).Serialize()
	if err != nil {
		return "", err
	}
	a.jwt, a.issued = tok, now
	return tok, nil
}
