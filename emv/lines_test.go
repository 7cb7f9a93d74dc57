package emv

import (
	"encoding/json"
	"testing"
)

// 2.3.1 Req 370/445: challengeInfoText, expandInfoText and whyInfoText may break lines with \n, which
// the SDK shows as a new line; every other control character, and a line break in any other element,
// is still a format error (203 naming the element).
func TestLineBreaksOnlyInInfoTexts(t *testing.T) {
	cres := func(set map[string]string) []byte {
		m := map[string]string{"messageType": "CRes", "messageVersion": "2.3.1",
			"threeDSServerTransID": "8a880dc0-d2d2-4067-bcb1-b08d1690b26e", "acsTransID": "d7c1ee99-9478-44a6-b1f2-391e29c6b340",
			"sdkTransID": "b2385523-a66c-4907-ac3c-91848e8c0067", "acsCounterAtoS": "000", "acsUiType": "04",
			"challengeCompletionInd": "N", "challengeInfoHeader": "Zahlung bestätigen", "oobContinueLabel": "Weiter",
			"challengeInfoText": "Beispiel-Shop, 49,90 EUR\nBitte bestätigen Sie in der App.", "whyInfoLabel": "Warum?",
			"whyInfoText": "Zeile eins\nZeile zwei"}
		for k, v := range set {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	if _, e := Decode(cres(nil), TypeCRes, Context{Channel: APP}); e != nil {
		t.Fatalf("line breaks in the info texts: %s %s", e.ErrorCode, e.ErrorDetail)
	}
	for name, set := range map[string]map[string]string{
		"challengeInfoHeader": {"challengeInfoHeader": "Zahlung\nbestätigen"},
		"challengeInfoText":   {"challengeInfoText": "Tab\tin the text"},
		"whyInfoText":         {"whyInfoText": "NUL\x00"},
	} {
		_, e := Decode(cres(set), TypeCRes, Context{Channel: APP})
		if e == nil || e.ErrorCode != ErrFormat || e.ErrorDetail != name {
			t.Errorf("%s: got %+v, want 203 %s", name, e, name)
		}
	}
}
