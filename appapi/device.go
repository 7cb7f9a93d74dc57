package appapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
)

// DeviceState is what the app keeps on the phone (acs-app's state file): the device key, the
// offline-password secret and the cards bound to this installation. It lives here, beside the signing
// scheme, because two programs write it: acs-app, and `acs demo seed`, which prepares a demo phone.
type DeviceState struct {
	DeviceKey []byte `json:"device_key_pkcs8"`
	// OfflineSecret derives offline passwords (R-AUTH-4); the server holds it encrypted.
	OfflineSecret []byte       `json:"offline_secret"`
	Cards         []DeviceCard `json:"cards"`
}

// DeviceCard is a card bound to the installation.
type DeviceCard struct {
	CardID   string `json:"card_id"`
	Card     string `json:"card"`
	EmCertID string `json:"em_cert_id"`
	State    string `json:"state"`
	// PINCheck lets the app check its PIN offline (PINCheck); never the PIN itself.
	PINCheck []byte `json:"pin_check,omitempty"`
}

// PINCheck is the app's local check of its PIN, for the offline password when the server cannot be
// asked. It is keyed with the offline secret: whoever holds the state file holds that secret anyway, so
// the check exposes nothing more (a real app keeps both in the phone's secure element).
func PINCheck(secret []byte, pin string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("acs-app-pin|" + pin))
	return m.Sum(nil)
}

// Save writes the state file readable by its owner only, atomically.
func (s *DeviceState) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
