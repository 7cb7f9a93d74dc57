package emv

// Fuzz targets, one per decoder. Seeds: the valid messages validMessage generates from the tables for
// every version, channel and category, and the sample messages of ../testdata/emv. Invariants for any
// input: Decode does not panic and returns a message or an Erro; an Erro is itself a valid Erro
// message; its errorDetail names elements (or is one of the reader's fixed texts) and never repeats a
// string value of the input longer than 12 characters that is not an element name, so no card number
// is ever echoed; a message that was read can be written again with Encode, which returns it or an
// error and does not panic.
//
// A longer run: go test -run '^$' -fuzz '^FuzzDecodeAReq$' -fuzztime 10m ./emv/

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func FuzzDecodeAReq(f *testing.F) { fuzzDecode(f, TypeAReq) }
func FuzzDecodeARes(f *testing.F) { fuzzDecode(f, TypeARes) }
func FuzzDecodeCReq(f *testing.F) { fuzzDecode(f, TypeCReq) }
func FuzzDecodeCRes(f *testing.F) { fuzzDecode(f, TypeCRes) }
func FuzzDecodeRReq(f *testing.F) { fuzzDecode(f, TypeRReq) }
func FuzzDecodeRRes(f *testing.F) { fuzzDecode(f, TypeRRes) }
func FuzzDecodeErro(f *testing.F) { fuzzDecode(f, TypeErro) }
func FuzzDecodeOReq(f *testing.F) { fuzzDecode(f, TypeOReq) }

func fuzzDecode(f *testing.F, typ MessageType) {
	for _, c := range allCases(f) {
		if c.table.Type != typ {
			continue
		}
		vals := validMessage(f, c.table, c.ch, c.cat)
		f.Add(marshal(f, vals), uint8(c.ch), uint8(c.cat))
		// The same message with a non-critical extension and an unknown member, for the fuzzer to vary.
		if indexOf(c.table.Elements, "messageExtension") >= 0 {
			vals = with(vals, "messageExtension", []any{map[string]any{"name": "n", "id": "A000000802-004",
				"criticalityIndicator": false, "data": map[string]any{"k": "4000110000000017"}}})
		}
		f.Add(marshal(f, with(vals, "someFutureElement", "4000110000000017")), uint8(c.ch), uint8(c.cat))
	}
	for _, pattern := range []string{"../testdata/emv/*.json", "../testdata/emv/*/*.json"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, uint8(BRW), uint8(PA))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, ch, cat uint8) {
		ctx := Context{Channel: Channel(ch) & AnyChannel, Category: Category(cat) & AnyCategory}
		checkDecodeInvariants(t, typ, body, ctx)
	})
}

func checkDecodeInvariants(t *testing.T, typ MessageType, body []byte, ctx Context) {
	m, e := Decode(body, typ, ctx)
	switch {
	case m == nil && e == nil:
		t.Fatalf("Decode returned neither a message nor an Erro\nbody: %q", body)
	case m != nil && e != nil:
		t.Fatalf("Decode returned a message and an Erro %s %q", e.ErrorCode, e.ErrorDetail)
	}
	if e != nil {
		out := EncodeErro(e)
		if _, e2 := Decode(out, TypeErro, Context{}); e2 != nil {
			t.Fatalf("the Erro is not a valid Erro message: %s %q\nErro: %s\nbody: %q", e2.ErrorCode, e2.ErrorDetail, out, body)
		}
		checkDetail(t, typ, body, e)
		return
	}
	if _, err := Encode(m); err != nil && err.Error() == "" {
		t.Fatal("Encode failed without saying why")
	}
}

// checkDetail: errorDetail is made of element names of the message type's tables (parent.child for
// members), the reader's fixed texts, or the supported versions; it never repeats a string value of
// the input longer than 12 characters that is not an element name. Two details name what the input
// chose by design: 202 names the critical extension's id (Table A.4), 204 the duplicated key.
func checkDetail(t *testing.T, typ MessageType, body []byte, e *Erro) {
	t.Helper()
	values, keys := inputStrings(body)
	vocab := detailVocabulary()
	if utf8.RuneCountInString(e.ErrorDetail) > 2048 {
		t.Fatalf("errorDetail of %d characters", utf8.RuneCountInString(e.ErrorDetail))
	}
	byInput := e.ErrorCode == ErrCriticalExtension || e.ErrorCode == ErrDuplicate
	for _, tok := range strings.Split(e.ErrorDetail, ",") {
		if vocab[tok] {
			continue
		}
		if byInput && (e.ErrorCode == ErrCriticalExtension || contains(keys, tok)) {
			continue
		}
		// A duplicate inside an object is named parent.member, the member being the sender's key.
		if parent, member, ok := strings.Cut(tok, "."); ok && e.ErrorCode == ErrDuplicate && vocab[parent] && contains(keys, member) {
			continue
		}
		t.Fatalf("errorDetail %q: %q is not an element name of %s nor a fixed text", e.ErrorDetail, tok, typ)
	}
	if byInput {
		return // the detail is the id or key the sender chose, as Table A.4 asks
	}
	for _, s := range values {
		if utf8.RuneCountInString(s) > 12 && !vocab[s] && strings.Contains(e.ErrorDetail, s) {
			t.Fatalf("errorDetail %q repeats the input value %q", e.ErrorDetail, s)
		}
	}
}

var (
	vocabOnce sync.Once
	vocab     map[string]bool
)

// detailVocabulary: every element name and member path of every table, the reader's fixed details,
// the versions, and the Erro descriptions (a detail defaults to its description).
func detailVocabulary() map[string]bool {
	vocabOnce.Do(func() {
		vocab = map[string]bool{"Invalid Formatted Message": true, "Invalid Message Type": true}
		for _, v := range Versions {
			vocab[string(v)] = true
		}
		for _, d := range errorDescriptions {
			vocab[d] = true
		}
		var walk func(rows []Element, prefix string)
		walk = func(rows []Element, prefix string) {
			for _, e := range rows {
				vocab[e.Name] = true
				vocab[prefix+e.Name] = true
				walk(e.Sub, prefix+e.Name+".")
			}
		}
		for _, typ := range messageTypes {
			for _, v := range Versions {
				if tb, ok := TableOf(typ, v); ok {
					walk(tb.Elements, "")
				}
			}
		}
	})
	return vocab
}

// inputStrings lists the string values and the member names of a JSON text, as far as it parses.
func inputStrings(body []byte) (values, keys []string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct{ object, wantKey bool }
	var stack []frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return values, keys
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{object: true, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
				valueDone()
			}
			continue
		case string:
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				keys = append(keys, v)
				stack[n-1].wantKey = false
				continue
			}
			values = append(values, v)
		}
		valueDone()
	}
}

// TestFuzzInvariantsOnSeeds runs the invariants over every element mutation of TestElements' first
// case of each message type, so that a plain go test exercises them on refused messages too.
func TestFuzzInvariantsOnSeeds(t *testing.T) {
	done := map[MessageType]bool{}
	for _, c := range allCases(t) {
		if done[c.table.Type] {
			continue
		}
		done[c.table.Type] = true
		base := validMessage(t, c.table, c.ch, c.cat)
		for _, tg := range targets(c) {
			vals, _ := withElement(t, c, base, tg.path)
			for _, mut := range mutations(t, c, tg, vals) {
				body := marshal(t, apply(vals, mut))
				t.Run(fmt.Sprintf("%s/%s/%s", c, strings.Join(tg.path, "."), mut.label), func(t *testing.T) {
					checkDecodeInvariants(t, c.table.Type, body, c.ctx())
				})
			}
		}
	}
}

// TestDetailNeverEchoesACardNumber: a card number where an element name, an extension or a value
// could carry it into errorDetail.
func TestDetailNeverEchoesACardNumber(t *testing.T) {
	const pan = "4000110000000017"
	c := oneCase(t, TypeAReq, V231, BRW, PA)
	base := validMessage(t, c.table, c.ch, c.cat)
	bodies := map[string][]byte{
		"as-messageVersion": marshal(t, with(base, "messageVersion", pan)),
		"as-messageType":    marshal(t, with(base, "messageType", pan)),
		"as-deviceChannel":  marshal(t, with(base, "deviceChannel", pan)),
		"as-currency":       marshal(t, with(base, "purchaseCurrency", pan)),
		"as-unknown":        marshal(t, with(without(base, "acctNumber"), "x", pan)),
		"acctNumber-long":   marshal(t, with(base, "acctNumber", pan+"0000")),
		"acctNumber-alpha":  marshal(t, with(base, "acctNumber", pan[:15]+"X")),
		"in-extension": marshal(t, with(base, "messageExtension", []any{map[string]any{"name": pan, "id": "A000000802-004",
			"criticalityIndicator": "yes", "data": pan}})),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			_, e := Decode(body, TypeAReq, Context{})
			if e == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(e.ErrorDetail, pan) || strings.Contains(string(EncodeErro(e)), pan) {
				t.Fatalf("the Erro repeats the card number: %s", EncodeErro(e))
			}
			checkDecodeInvariants(t, TypeAReq, body, Context{})
		})
	}
}

// FuzzObject holds the fast object scanner to encoding/json's own reading: for any UTF-8 input both accept or
// both refuse, and where they accept they find the same members (raw values compared compacted), in the
// same order, and the same first duplicate key.
func FuzzObject(f *testing.F) {
	for _, s := range []string{`{}`, ` {"a":1} `, `{"a":"x\"y","b":[1,{"c":"}"}],"a":null}`, `{"\u0061":true,"a":false}`,
		`{"a":1}x`, `[1]`, `{"a":-0.5e+3,"b":"\\"}`, `{"a" : { "b" : [ ] } , "c":"é"}`, `{"a":1,}`, `{"a"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return // Decode refuses it before reading members
		}
		raw, keys, dup, err := object(body)
		wantRaw, wantKeys, wantDup, wantErr := objectReference(body)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: scanner err %v, encoding/json err %v", body, err, wantErr)
		}
		if err != nil {
			return
		}
		if dup != wantDup || strings.Join(keys, "\x00") != strings.Join(wantKeys, "\x00") {
			t.Fatalf("%q: keys %q dup %q, want %q dup %q", body, keys, dup, wantKeys, wantDup)
		}
		for k, v := range wantRaw {
			var a, b bytes.Buffer
			if json.Compact(&a, raw[k]) != nil || json.Compact(&b, v) != nil || a.String() != b.String() {
				t.Fatalf("%q: member %q is %q, want %q", body, k, raw[k], v)
			}
		}
	})
}

// objectReference is the object reader the scanner replaced, on json.Decoder's token API.
func objectReference(body []byte) (map[string]json.RawMessage, []string, string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, "", fmt.Errorf("not an object")
	}
	raw := map[string]json.RawMessage{}
	var keys []string
	dup := ""
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, "", err
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, "", err
		}
		if _, seen := raw[k]; seen {
			if dup == "" {
				dup = k
			}
			continue
		}
		raw[k] = v
		keys = append(keys, k)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, nil, "", fmt.Errorf("not an object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, "", fmt.Errorf("trailing data")
	}
	return raw, keys, dup, nil
}

// TypeOf reads the type as the object reader does (FuzzObject checks that against encoding/json), on any
// input, without panicking.
func FuzzTypeOf(f *testing.F) {
	for _, s := range []string{`{}`, `{"messageType":"AReq"}`, ` {"a":[1,{"messageType":"OReq"}],"messageType" : "Erro"} `,
		`{"messageType":1}`, `{"messageType":"A\u0052eq"}`, `{"messageType":"AReq","messageType":"OReq"}`, `{"messageType":"AReq"`,
		`[{"messageType":"AReq"}]`, `{"messageType":null}`, `{"a":1,}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := TypeOf(body)
		want := MessageType("")
		if raw, _, _, err := object(body); err == nil && utf8.Valid(body) { // Decode refuses other bytes first
			var s string
			if r, ok := raw["messageType"]; ok && len(r) > 0 && r[0] == '"' && json.Unmarshal(r, &s) == nil {
				want = MessageType(s)
			}
		}
		if got != want {
			t.Fatalf("%q: TypeOf %q, want %q", body, got, want)
		}
	})
}
