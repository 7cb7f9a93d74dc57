package push

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
	"github.com/go-jose/go-jose/v4/jwt"
)

// FCM sends through Firebase Cloud Messaging's HTTP v1 API: an OAuth 2.0 access token obtained with a
// service-account JWT (RFC 7523 JWT bearer grant, RS256, scope firebase.messaging, at most an hour),
// kept until shortly before it expires, then POST /v1/projects/{project}/messages:send with a data
// message of high priority.
type FCM struct {
	ProjectID   string
	ClientEmail string
	KeyID       string // the service account key's id (JWT "kid")
	Key         crypto.Signer
	TokenURL    string // https://oauth2.googleapis.com/token
	SendBase    string // https://fcm.googleapis.com
	Client      *http.Client
	Now         func() time.Time

	mu      sync.Mutex
	access  string
	expires time.Time
}

// fcmScope is the OAuth 2.0 scope of sending messages.
const fcmScope = "https://www.googleapis.com/auth/firebase.messaging"

// LoadFCM reads a Google service-account key file (JSON, as the Firebase console hands it out).
// sendBase empty: Google's endpoint.
func LoadFCM(path, sendBase string) (*FCM, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sa struct {
		Type         string `json:"type"`
		ProjectID    string `json:"project_id"`
		PrivateKeyID string `json:"private_key_id"`
		PrivateKey   string `json:"private_key"`
		ClientEmail  string `json:"client_email"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal(b, &sa); err != nil || sa.Type != "service_account" {
		return nil, fmt.Errorf("push: %s is no service-account key file", path)
	}
	blk, _ := pem.Decode([]byte(sa.PrivateKey))
	if blk == nil {
		return nil, fmt.Errorf("push: %s holds no private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	key, ok := k.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("push: %s: the service-account key is not RSA", path)
	}
	if sa.TokenURI == "" {
		sa.TokenURI = "https://oauth2.googleapis.com/token"
	}
	if sendBase == "" {
		sendBase = "https://fcm.googleapis.com"
	}
	return &FCM{ProjectID: sa.ProjectID, ClientEmail: sa.ClientEmail, KeyID: sa.PrivateKeyID, Key: key, TokenURL: sa.TokenURI,
		SendBase: strings.TrimSuffix(sendBase, "/"), Client: &http.Client{Timeout: 10 * time.Second}, Now: time.Now}, nil
}

// Send posts one data message: {"type": "confirmation", "confirmation_id": ...}, high priority, kept
// by FCM for 10 minutes (a challenge's length) at most.
func (f *FCM) Send(ctx context.Context, token string, m Message) error {
	body, _ := json.Marshal(map[string]any{"message": map[string]any{"token": token,
		"data":    map[string]string{"type": "confirmation", "confirmation_id": m.ConfirmationID.String()},
		"android": map[string]any{"priority": "HIGH", "ttl": "600s"}}})
	for attempt := 0; ; attempt++ {
		access, err := f.accessToken(ctx)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			f.SendBase+"/v1/projects/"+url.PathEscape(f.ProjectID)+"/messages:send", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+access)
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		resp, err := f.Client.Do(req)
		if err != nil {
			return err
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			f.forget() // the access token was revoked or expired early: one new one
			continue
		case fcmUnregistered(resp.StatusCode, raw):
			return ErrTokenInvalid
		}
		return fmt.Errorf("FCM: HTTP %d", resp.StatusCode)
	}
}

// fcmUnregistered reads FCM's error: 404 UNREGISTERED, or 400 INVALID_ARGUMENT about the token.
func fcmUnregistered(status int, raw []byte) bool {
	var e struct {
		Error struct {
			Status  string `json:"status"`
			Details []struct {
				ErrorCode string `json:"errorCode"`
			} `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	for _, d := range e.Error.Details {
		if d.ErrorCode == "UNREGISTERED" {
			return true
		}
	}
	return status == http.StatusNotFound || (status == http.StatusBadRequest && e.Error.Status == "INVALID_ARGUMENT")
}

func (f *FCM) forget() {
	f.mu.Lock()
	f.access = ""
	f.mu.Unlock()
}

// accessToken returns a valid OAuth 2.0 access token, fetching one when the kept one is within a
// minute of its expiry.
func (f *FCM) accessToken(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.Now()
	if f.access != "" && now.Before(f.expires.Add(-time.Minute)) {
		return f.access, nil
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: cryptosigner.Opaque(f.Key)},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", f.KeyID))
	if err != nil {
		return "", err
	}
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: f.ClientEmail, Audience: jwt.Audience{f.TokenURL},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}).
		Claims(map[string]any{"scope": fcmScope}).Serialize()
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("FCM: the token endpoint answered HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", errors.New("FCM: the token endpoint gave no access token")
	}
	f.access, f.expires = tok.AccessToken, now.Add(time.Duration(tok.ExpiresIn)*time.Second)
	return f.access, nil
}
