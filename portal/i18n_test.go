package portal

import "testing"

// A message no table words (a domain message added later) is never shown in English on a German page,
// and a field without a label is not shown by its internal name.
func TestUnknownMessagesFallBack(t *testing.T) {
	msg, fields := localize("de", "something new went wrong", map[string]string{"pan": "a new rule", "new_field": "x"})
	if msg != unknownMessage["de"] || len(fields) != 2 || fields[0].Msg != unknownField["de"] || fields[0].Label != "Kartennummer" ||
		fields[1].Label != "Eingabe" {
		t.Fatalf("%q %+v", msg, fields)
	}
	if msg, _ := localize("en", "something new went wrong", nil); msg != "something new went wrong" {
		t.Fatalf("English: %q", msg)
	}
}
