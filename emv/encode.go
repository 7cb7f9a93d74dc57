package emv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Encode writes m as JSON after checking it against its version's table exactly as a recipient would
// (Decode's checks with the same channel and category, applied to the values as written: check) and
// refusing any element the version does not define for the message. An error here is a defect of the
// caller, never of the peer: a message this ACS sends must be one its own reader accepts.
func Encode(m *Message) ([]byte, error) {
	t, ok := tableOf(m.Type, m.Version)
	if !ok {
		return nil, fmt.Errorf("emv: no %s table for version %s", m.Type, m.Version)
	}
	out, err := write(m, &t)
	if err != nil {
		return nil, err
	}
	if len(out) > MaxMessageSize || !utf8.Valid(out) {
		return nil, fmt.Errorf("emv: %s %s would be refused: %s", m.Type, m.Version, "Invalid Formatted Message")
	}
	if erro := check(m, &t); erro != nil {
		return nil, fmt.Errorf("emv: %s %s would be refused: %s %s", m.Type, m.Version, erro.ErrorCode, erro.ErrorDetail)
	}
	return out, nil
}

// write writes m's elements in their order, refusing one the table t does not define for the message.
func write(m *Message, t *Table) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"messageType":`)
	writeJSON(&buf, string(m.Type))
	buf.WriteString(`,"messageVersion":`)
	writeJSON(&buf, string(m.Version))
	for _, name := range m.order {
		if name == "messageType" || name == "messageVersion" {
			continue
		}
		i := indexOf(t.Elements, name)
		if i < 0 {
			return nil, fmt.Errorf("emv: %s %s has no element %s", m.Type, m.Version, name)
		}
		e := &t.Elements[i]
		if (e.Ch != 0 && m.Channel != 0 && e.Ch&m.Channel == 0) || (e.Cat != 0 && m.Category != 0 && e.Cat&m.Category == 0) {
			return nil, fmt.Errorf("emv: %s %s: element %s does not apply to this channel or category", m.Type, m.Version, name)
		}
		buf.WriteByte(',')
		writeJSON(&buf, name)
		buf.WriteByte(':')
		writeJSON(&buf, m.values[name])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// writeJSON writes v without HTML escaping: values such as URLs with & stay readable, and the JSON is
// never embedded in HTML unescaped (pages carry messages base64url-encoded).
func writeJSON(buf *bytes.Buffer, v any) {
	if s, ok := v.(string); ok && plain(s) {
		buf.WriteByte('"')
		buf.WriteString(s)
		buf.WriteByte('"')
		return
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	buf.Truncate(buf.Len() - 1) // Encode ends with a newline
}

// plain reports whether s is written in JSON as itself between quotes: printable ASCII without quote or
// backslash (nearly every EMV value), so the encoder's reflection can be skipped.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// MustEncode is Encode for messages built from constants (tests, examples).
func MustEncode(m *Message) []byte {
	b, err := Encode(m)
	if err != nil {
		panic(err)
	}
	return b
}

// RResFor writes the RRes that acknowledges rreq (a decoded RReq) with resultsStatus (01: received
// for further processing), echoing its ids; the DS side of the simulators answers with it.
func RResFor(rreq *Message, resultsStatus string) ([]byte, error) {
	m := NewMessage(TypeRRes, rreq.Version)
	for _, id := range []string{"threeDSServerTransID", "acsTransID", "dsTransID", "sdkTransID"} {
		m.Set(id, rreq.Str(id))
	}
	m.Set("resultsStatus", resultsStatus)
	m.Channel, m.Category = rreq.Channel, rreq.Category
	return Encode(m)
}

// EncodeErro writes an Erro message. Erro is written from its struct (its elements are the same in
// every version); Decode checks it in the tests.
func EncodeErro(e *Erro) []byte {
	var buf bytes.Buffer
	writeJSON(&buf, e)
	return buf.Bytes()
}
