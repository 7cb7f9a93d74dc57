package emv

// The element tables drive these tests. validMessage builds, from a table, the smallest message a
// sender may send for a device channel and message category; every element of the table is then left
// out, emptied, broken, pushed past its limits and given reserved values, and the Erro the reader
// answers is compared with what the table says it must be. Nothing here lists elements by hand except
// the few values the tables cannot give (special) and the cases the issue names explicitly.
//
// Where a test shows a defect of the reader (decode.go, which these tests may not change), it calls
// holds: a check that once found a decoder defect.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// ---------------------------------------------------------------------------------------------------
// The matrix: every message type with a table, every version, every channel and category where the
// message exists.

var messageTypes = []MessageType{TypeAReq, TypeARes, TypeCReq, TypeCRes, TypeRReq, TypeRRes, TypeErro, TypeOReq, TypeORes}

// operationMessage: OReq and ORes exist in 2.3.1 only, between the DS and the ACS, outside any
// transaction's channel and category.
func operationMessage(t MessageType) bool { return t == TypeOReq || t == TypeORes }

// msgCase is one table read for one device channel and message category.
type msgCase struct {
	table Table
	ch    Channel
	cat   Category
}

func (c msgCase) String() string {
	s := string(c.table.Version) + "/" + string(c.table.Type)
	if c.ch != 0 {
		s += "/" + channelName(c.ch)
	}
	if c.cat != 0 {
		s += "/" + categoryName(c.cat)
	}
	return s
}

// ctx is the Context a reader has for the message: the AReq names its own channel and category; the
// messages of a transaction get them from the AReq; an Erro is read without them.
func (c msgCase) ctx() Context {
	if c.table.Type == TypeAReq || c.ch == 0 {
		return Context{}
	}
	return Context{Channel: c.ch, Category: c.cat}
}

// channelsOf lists the channels where a message exists: a challenge needs a cardholder, so there is no
// CReq or CRes in 3RI; an Erro may be read before any channel is known.
func channelsOf(t MessageType) []Channel {
	switch t {
	case TypeErro, TypeOReq, TypeORes:
		return []Channel{0}
	case TypeCReq, TypeCRes:
		return []Channel{APP, BRW}
	}
	return []Channel{APP, BRW, RI3}
}

func categoriesOf(t MessageType) []Category {
	if t == TypeErro || operationMessage(t) {
		return []Category{0}
	}
	return []Category{PA, NPA}
}

func allCases(t testing.TB) []msgCase {
	t.Helper()
	var out []msgCase
	for _, typ := range messageTypes {
		for _, v := range Versions {
			tb, ok := TableOf(typ, v)
			if !ok && operationMessage(typ) && v != V231 {
				continue
			}
			if !ok {
				t.Fatalf("no %s table for %s", typ, v)
			}
			for _, ch := range channelsOf(typ) {
				for _, cat := range categoriesOf(typ) {
					out = append(out, msgCase{table: tb, ch: ch, cat: cat})
				}
			}
		}
	}
	return out
}

func channelName(ch Channel) string {
	return map[Channel]string{APP: "APP", BRW: "BRW", RI3: "RI3"}[ch]
}

func channelCode(ch Channel) string { return map[Channel]string{APP: "01", BRW: "02", RI3: "03"}[ch] }

func categoryName(cat Category) string { return map[Category]string{PA: "PA", NPA: "NPA"}[cat] }

func categoryCode(cat Category) string { return map[Category]string{PA: "01", NPA: "02"}[cat] }

// ---------------------------------------------------------------------------------------------------
// JSON values: a message is a map[string]any of string, bool, nil (null), []any, map[string]any, and
// numbers where a test wants a wrong type.

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

func cloneObj(m map[string]any) map[string]any { return cloneValue(m).(map[string]any) }

// marshal writes v as compact JSON without HTML escaping, so that lengths in characters are those of
// the values themselves.
func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := marshalJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// objAt descends into vals along path (objects, and the first object of an array of objects).
func objAt(vals map[string]any, path []string) map[string]any {
	cur := vals
	for _, p := range path {
		switch x := cur[p].(type) {
		case map[string]any:
			cur = x
		case []any:
			cur = x[0].(map[string]any)
		default:
			return nil
		}
	}
	return cur
}

func lookup(vals map[string]any, path []string) (any, bool) {
	obj := objAt(vals, path[:len(path)-1])
	if obj == nil {
		return nil, false
	}
	v, ok := obj[path[len(path)-1]]
	return v, ok
}

func isEmpty(v any) bool { return v == nil || v == "" }

func samePath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// uuidFor gives each id element its own fixed, canonical, lower-case UUID.
func uuidFor(name string) string {
	h := fnv.New64a()
	h.Write([]byte(name))
	x := h.Sum64()
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(x>>32), uint16(x>>16), uint16(x)&0xfff, uint16(x>>20)&0xfff, x&0xffffffffffff)
}

// ---------------------------------------------------------------------------------------------------
// Enumerations as the tables write them ("01-10,80,Y"), parsed independently of the reader.

type enumItem struct {
	lo, hi string // hi == "" for a single value
}

func parseEnum(list string) ([]enumItem, error) {
	if list == "" {
		return nil, nil
	}
	var out []enumItem
	for _, item := range strings.Split(list, ",") {
		if item == "" || strings.TrimSpace(item) != item || strings.ContainsAny(item, " \t") {
			return nil, fmt.Errorf("item %q is empty or has spaces", item)
		}
		lo, hi, isRange := strings.Cut(item, "-")
		if !isRange {
			out = append(out, enumItem{lo: item})
			continue
		}
		if len(lo) != len(hi) || !digits(lo) || !digits(hi) {
			return nil, fmt.Errorf("item %q is not an equal-width numeric range", item)
		}
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		if a > b {
			return nil, fmt.Errorf("range %q runs backwards", item)
		}
		out = append(out, enumItem{lo: lo, hi: hi})
	}
	return out, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// enumValues expands a list into its values (ranges of equal width, zero-padded).
func enumValues(list string) []string {
	items, _ := parseEnum(list)
	var out []string
	for _, it := range items {
		if it.hi == "" {
			out = append(out, it.lo)
			continue
		}
		a, _ := strconv.Atoi(it.lo)
		b, _ := strconv.Atoi(it.hi)
		for n := a; n <= b; n++ {
			out = append(out, fmt.Sprintf("%0*d", len(it.lo), n))
		}
	}
	return out
}

// enumSamples are the literal values and the bounds of the ranges of a list.
func enumSamples(list string) []string {
	items, _ := parseEnum(list)
	var out []string
	for _, it := range items {
		out = append(out, it.lo)
		if it.hi != "" && it.hi != it.lo {
			out = append(out, it.hi)
		}
	}
	return out
}

func enumHas(list, s string) bool {
	items, _ := parseEnum(list)
	for _, it := range items {
		if it.hi == "" {
			if it.lo == s {
				return true
			}
			continue
		}
		if len(s) == len(it.lo) && digits(s) && s >= it.lo && s <= it.hi {
			return true
		}
	}
	return false
}

func inAnyList(v *Enum, s string) bool {
	return enumHas(v.OK, s) || enumHas(v.EMVCo, s) || enumHas(v.DS, s)
}

// fits reports whether s meets a row's length and, for Numeric, its digits (what a value taken from
// an enumeration must meet to be usable).
func fits(e *Element, s string) bool {
	n := utf8.RuneCountInString(s)
	if (e.Min > 0 && n < e.Min) || (e.Max > 0 && n > e.Max) {
		return false
	}
	return e.Format != Numeric || digits(s)
}

func firstFitting(e *Element, list string) (string, bool) {
	for _, v := range enumSamples(list) {
		if fits(e, v) {
			return v, true
		}
	}
	return "", false
}

// ---------------------------------------------------------------------------------------------------
// The generator.

func appliesTo(e *Element, ch Channel, cat Category) bool {
	return e.Inc != Absent && (e.Ch == 0 || e.Ch&ch != 0) && (e.Cat == 0 || e.Cat&cat != 0)
}

func requiredIn(e *Element, m *Message) bool {
	return e.Inc == Required || (e.Inc == Conditional && e.Need != nil && e.Need(m))
}

// modelMessage is the Message the reader's conditions see for vals: the valid elements of the table
// that apply, with the channel and category the reader would use. skip names a top-level element the
// reader would find invalid.
func modelMessage(c msgCase, vals map[string]any, skip string) *Message {
	m := NewMessage(c.table.Type, c.table.Version)
	m.Channel, m.Category = c.ch, c.cat
	if c.table.Type == TypeAReq {
		s, _ := vals["deviceChannel"].(string)
		m.Channel = ChannelOf(s)
		s, _ = vals["messageCategory"].(string)
		m.Category = CategoryOf(s)
	}
	for i := range c.table.Elements {
		e := &c.table.Elements[i]
		v, ok := vals[e.Name]
		if !ok || e.Name == skip || isEmpty(v) || !appliesTo(e, m.Channel, m.Category) {
			continue
		}
		m.Set(e.Name, modelValue(v))
	}
	return m
}

func modelValue(v any) any {
	switch x := v.(type) {
	case []any:
		ss := make([]string, 0, len(x))
		for _, it := range x {
			s, ok := it.(string)
			if !ok {
				b, _ := marshalJSON(v)
				return json.RawMessage(b)
			}
			ss = append(ss, s)
		}
		return ss
	case map[string]any:
		b, _ := marshalJSON(v)
		return json.RawMessage(b)
	}
	return v
}

// validMessage builds the smallest valid message of the table for a channel and category: every
// element that applies and is required, or conditional with its condition met, until no condition
// asks for more.
func validMessage(t testing.TB, tb Table, ch Channel, cat Category) map[string]any {
	t.Helper()
	return complete(t, msgCase{table: tb, ch: ch, cat: cat}, map[string]any{})
}

// complete adds to a copy of vals every element that applies and is required by now, one at a time
// (each may make others required), until the message is stable.
func complete(t testing.TB, c msgCase, vals map[string]any) map[string]any {
	t.Helper()
	vals = cloneObj(vals)
	for _, name := range []string{"messageType", "messageVersion", "deviceChannel", "messageCategory"} {
		if i := indexOf(c.table.Elements, name); i >= 0 {
			if _, ok := vals[name]; !ok {
				vals[name], _ = special(c, name, true)
			}
		}
	}
	keep := map[string]bool{}
	for k := range vals {
		keep[k] = true // what the caller put in stays
	}
	for round := 0; ; round++ {
		if round > 4*len(c.table.Elements) {
			t.Fatalf("%s: the generator does not settle", c)
		}
		m := modelMessage(c, vals, "")
		changed := false
		for i := range c.table.Elements {
			e := &c.table.Elements[i]
			if _, ok := vals[e.Name]; ok || !appliesTo(e, m.Channel, m.Category) || !requiredIn(e, m) {
				continue
			}
			vals[e.Name] = synth(t, c, e, m, true)
			changed = true
			break
		}
		if changed {
			continue
		}
		// An element added while another was still missing may not be required any more (acsUiType
		// before challengeCompletionInd Y): the smallest message leaves it out.
		for i := range c.table.Elements {
			e := &c.table.Elements[i]
			if _, ok := vals[e.Name]; ok && !keep[e.Name] && !(appliesTo(e, m.Channel, m.Category) && requiredIn(e, m)) {
				delete(vals, e.Name)
				changed = true
				break
			}
		}
		if !changed {
			return vals
		}
	}
}

// special gives the values the rows cannot: the message's own type, version, channel and category,
// the ISO 4217 exponent of the synthesized currency (978: 2, an acs-level rule), a card number, a
// language tag, a public key, and non-critical extensions.
func special(c msgCase, name string, top bool) (any, bool) {
	switch name {
	case "messageVersion":
		return string(c.table.Version), true
	case "criticalityIndicator":
		return false, !top
	}
	if !top {
		return nil, false
	}
	switch name {
	case "messageType":
		return string(c.table.Type), true
	case "deviceChannel":
		return channelCode(c.ch), true
	case "messageCategory":
		return categoryCode(c.cat), true
	case "purchaseExponent", "recurringExponent":
		return "2", true
	case "acctNumber":
		return "4000110000000017", true
	case "browserLanguage":
		return "de-DE", true
	case "sdkEphemPubKey":
		return map[string]any{"kty": "EC", "crv": "P-256",
			"x": "mPUKT_bAWGHIhg0TpjjqVsP1rXWQu_vwVOHHtNkdYoA", "y": "8BQAsImGeAS46fyWw5MhYfGTT0IjBpFw2SS34Dv4Irs"}, true
	}
	return nil, false
}

// synth makes a value for a row: the row's first accepted value, or a string of its minimum length in
// its format; objects with their required members; arrays of one item.
func synth(t testing.TB, c msgCase, e *Element, m *Message, top bool) any {
	t.Helper()
	if v, ok := special(c, e.Name, top); ok {
		return v
	}
	switch e.Type {
	case String:
		return synthString(t, c, e)
	case StringArray:
		item := e.Item
		if item == nil {
			item = &Element{Name: e.Name}
		}
		n := max(1, e.Min)
		list := make([]any, n)
		for i := range list {
			list[i] = synthString(t, c, &Element{Name: e.Name, Min: item.Min, Max: item.Max, Format: item.Format, Values: item.Values})
		}
		return list
	case Boolean:
		return true
	case Object:
		return synthObject(t, c, e, m)
	case ObjectArray:
		n := max(1, e.Min)
		list := make([]any, n)
		for i := range list {
			list[i] = synthObject(t, c, e, m)
		}
		return list
	}
	t.Fatalf("%s: %s has an unknown type %d", c, e.Name, e.Type)
	return nil
}

func synthObject(t testing.TB, c msgCase, e *Element, m *Message) map[string]any {
	obj := map[string]any{}
	for i := range e.Sub {
		s := &e.Sub[i]
		if appliesTo(s, m.Channel, m.Category) && requiredIn(s, m) {
			obj[s.Name] = synth(t, c, s, m, false)
		}
	}
	return obj
}

func synthString(t testing.TB, c msgCase, e *Element) string {
	t.Helper()
	if e.Values != nil {
		if v, ok := firstFitting(e, e.Values.OK); ok {
			return v
		}
		t.Fatalf("%s: no accepted value of %s fits its length", c, e.Name)
	}
	n := max(1, e.Min)
	var s string
	switch e.Format {
	case Numeric:
		s = strings.Repeat("1", n)
	case UUID:
		s = uuidFor(e.Name)
	case URL:
		s = "https://acs.example/3ds"
	case DateTime:
		s = "20261123100000"
	case Date:
		s = "20261123"
	case YYMM:
		s = "2909"
	case CountryCode:
		s = "276"
	case CurrencyCode:
		s = "978"
	case Email:
		s = "anna@example.com"
	case Base64URL, Base64:
		s = strings.Repeat("A", n)
	case IPAddress:
		s = "192.0.2.10"
	case Language:
		s = "de-DE"
	default:
		s = strings.Repeat("a", n)
	}
	if !fits(&Element{Min: e.Min, Max: e.Max}, s) {
		t.Fatalf("%s: cannot synthesize %s (%d-%d characters, format %d)", c, e.Name, e.Min, e.Max, e.Format)
	}
	return s
}

// ---------------------------------------------------------------------------------------------------
// The model: what the reader must answer for a message, given what one mutation did to one element.

type kind uint8

const (
	kValid    kind = iota // the element has a valid value
	kAbsent               // the member is left out
	kEmpty                // "" or null
	kFormat               // breaks its format, length, values or JSON type: 203
	kReserved             // an EMVCo-reserved value: 207
	kISO                  // not an ISO code, or an excluded one: 304
)

type mutation struct {
	label string
	path  []string
	kind  kind
	value any
	dup   bool // the member appears twice (204)
}

type verdict struct {
	code  string
	names []string
}

func (v verdict) String() string {
	if v.code == "" {
		return "accepted"
	}
	return fmt.Sprintf("Erro %s %q", v.code, strings.Join(v.names, ","))
}

type walker struct {
	m                                *Message
	mut                              mutation
	missing, format, reserved, isoes []string
}

// expect works out the reader's answer from the table alone: the priority of Erro codes is that of
// Annex A as decode.go documents it (201, 203, 207, 304, 202).
func expect(c msgCase, vals map[string]any, mut mutation) verdict {
	if mut.dup {
		return verdict{ErrDuplicate, []string{mut.path[0]}}
	}
	skip := ""
	if len(mut.path) == 1 && mut.kind != kValid {
		skip = mut.path[0]
	}
	w := &walker{m: modelMessage(c, vals, skip), mut: mut}
	w.rows(c.table.Elements, vals, nil)
	switch {
	case len(w.missing) > 0:
		return verdict{ErrRequiredMissing, w.missing}
	case len(w.format) > 0:
		return verdict{ErrFormat, w.format}
	case len(w.reserved) > 0:
		return verdict{ErrReservedValue, w.reserved}
	case len(w.isoes) > 0:
		return verdict{ErrISOCode, w.isoes}
	}
	if i := indexOf(c.table.Elements, "messageExtension"); i >= 0 && appliesTo(&c.table.Elements[i], w.m.Channel, w.m.Category) {
		if id, ok := criticalExtension(vals, c.ctx()); ok {
			return verdict{ErrCriticalExtension, []string{id}}
		}
	}
	return verdict{}
}

// criticalExtension is the first critical extension the context does not recognise (Annex A.12.3).
func criticalExtension(vals map[string]any, ctx Context) (string, bool) {
	list, _ := vals["messageExtension"].([]any)
	for _, it := range list {
		obj, _ := it.(map[string]any)
		if crit, _ := obj["criticalityIndicator"].(bool); !crit {
			continue
		}
		id, _ := obj["id"].(string)
		known := false
		for _, k := range ctx.Extensions {
			known = known || k == id
		}
		if known {
			continue
		}
		if id == "" {
			id = "messageExtension"
		}
		return strings.TrimSpace(id), true
	}
	return "", false
}

func (w *walker) rows(rows []Element, obj map[string]any, prefix []string) {
	for i := range rows {
		e := &rows[i]
		if !appliesTo(e, w.m.Channel, w.m.Category) {
			continue
		}
		path := append(prefix[:len(prefix):len(prefix)], e.Name)
		name := strings.Join(path, ".")
		v, given := obj[e.Name]
		present := given && !isEmpty(v)
		valid := present
		if present && samePath(path, w.mut.path) {
			switch w.mut.kind {
			case kFormat:
				w.format, valid = append(w.format, name), false
			case kReserved:
				w.reserved, valid = append(w.reserved, name), false
			case kISO:
				w.isoes, valid = append(w.isoes, name), false
			}
		}
		switch {
		case !present && requiredIn(e, w.m):
			w.missing = append(w.missing, name)
		case given && !present:
			w.format = append(w.format, name)
		case present && e.Only != nil && !e.Only(w.m):
			w.format = append(w.format, name)
		}
		if !valid || e.Sub == nil {
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			w.rows(e.Sub, x, path)
		case []any:
			for _, it := range x {
				if o, ok := it.(map[string]any); ok {
					w.rows(e.Sub, o, path)
				}
			}
		}
	}
}

func sameNames(detail string, want []string) bool {
	got := strings.Split(detail, ",")
	if len(got) != len(want) {
		return false
	}
	a := append([]string(nil), got...)
	b := append([]string(nil), want...)
	sort.Strings(a)
	sort.Strings(b)
	return reflect.DeepEqual(a, b)
}

var idNames = []string{"threeDSServerTransID", "acsTransID", "dsTransID", "sdkTransID"}

func erroID(e *Erro, name string) string {
	switch name {
	case "threeDSServerTransID":
		return e.ThreeDSServerTransID
	case "acsTransID":
		return e.ACSTransID
	case "dsTransID":
		return e.DSTransID
	}
	return e.SDKTransID
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// decodeAs reads body as the case's message and compares the answer with want. vals is what body
// holds (for the ids an Erro must echo).
func decodeAs(t *testing.T, c msgCase, ctx Context, vals map[string]any, body []byte, want verdict, erroVersion Version) (*Message, *Erro) {
	t.Helper()
	m, e := Decode(body, c.table.Type, ctx)
	want.code = erroCodeIn(erroVersion, want.code)
	if want.code == "" {
		if e != nil {
			t.Fatalf("refused with Erro %s %q, want accepted\nbody: %s", e.ErrorCode, e.ErrorDetail, clip(body))
		}
		if m == nil {
			t.Fatalf("Decode returned neither a message nor an Erro")
		}
		return m, nil
	}
	if e == nil {
		t.Fatalf("accepted, want %s\nbody: %s", want, clip(body))
	}
	if e.ErrorCode != want.code || (want.names != nil && !sameNames(e.ErrorDetail, want.names)) {
		t.Fatalf("Erro %s %q, want %s\nbody: %s", e.ErrorCode, e.ErrorDetail, want, clip(body))
	}
	checkErro(t, e, c.table.Type, erroVersion, vals)
	return m, e
}

// checkErro checks the Erro envelope: component A, the version, the message type it is about, the
// description of its code, every id echoed exactly as received (and only well-formed ones), and that
// it is itself a valid Erro message.
func checkErro(t *testing.T, e *Erro, about MessageType, version Version, vals map[string]any) {
	t.Helper()
	if e.MessageType != string(TypeErro) || e.ErrorComponent != "A" || e.MessageVersion != string(version) ||
		e.ErrorDescription != errorDescriptions[e.ErrorCode] {
		t.Errorf("Erro envelope %+v, want messageType Erro, component A, version %s, description of %s", *e, version, e.ErrorCode)
	}
	if e.ErrorCode != ErrMessageInvalid && e.ErrorMessageType != string(about) {
		t.Errorf("errorMessageType %q, want %q", e.ErrorMessageType, about)
	}
	for _, id := range idNames {
		want := ""
		if s, ok := vals[id].(string); ok && uuidRE.MatchString(s) {
			want = s
		}
		if got := erroID(e, id); got != want {
			t.Errorf("Erro %s = %q, want %q (as received)", id, got, want)
		}
	}
	if _, e2 := Decode(EncodeErro(e), TypeErro, Context{}); e2 != nil {
		t.Errorf("the Erro is not a valid Erro: %s %q\nErro: %s", e2.ErrorCode, e2.ErrorDetail, EncodeErro(e))
	}
}

// erroCodeIn is the code an Erro of version v carries for code: the closest older code where v's Erro
// table does not list it (Req 217; README "Choices": 207 is 203, 315 is 305 before 2.3.1).
func erroCodeIn(v Version, code string) string {
	tb, _ := TableOf(TypeErro, v)
	row := tb.Elements[indexOf(tb.Elements, "errorCode")]
	if code == "" || row.Values == nil || enumHas(row.Values.OK, code) {
		return code
	}
	return map[string]string{ErrReservedValue: ErrFormat, ErrTransactionStatus: ErrTransactionData}[code]
}

// holds fails the test with the reason when ok is false (these were the decoder's defects once).
func holds(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

// ---------------------------------------------------------------------------------------------------
// The element tests.

// target is an element of a table: a top-level row or a member of an object row, by path.
type target struct {
	path []string
	row  *Element
}

func targets(c msgCase) []target {
	var out []target
	var walk func(rows []Element, prefix []string)
	walk = func(rows []Element, prefix []string) {
		for i := range rows {
			e := &rows[i]
			if !appliesTo(e, c.ch, c.cat) {
				continue
			}
			path := append(prefix[:len(prefix):len(prefix)], e.Name)
			out = append(out, target{path: path, row: e})
			if e.Sub != nil {
				walk(e.Sub, path)
			}
		}
	}
	walk(c.table.Elements, nil)
	return out
}

// withElement returns base with the element at path present (and its parents), completed with what
// that makes required; added reports whether the element had to be added.
func withElement(t testing.TB, c msgCase, base map[string]any, path []string) (vals map[string]any, added bool) {
	t.Helper()
	vals = cloneObj(base)
	rows := c.table.Elements
	obj := vals
	for i, name := range path {
		e := &rows[indexOf(rows, name)]
		v, ok := obj[name]
		if !ok {
			v = synth(t, c, e, modelMessage(c, vals, ""), i == 0)
			obj[name] = v
			added = true
		}
		if i < len(path)-1 {
			switch x := v.(type) {
			case map[string]any:
				obj = x
			case []any:
				obj = x[0].(map[string]any)
			}
			rows = e.Sub
		}
	}
	if added {
		vals = complete(t, c, vals)
	}
	return vals, added
}

func apply(vals map[string]any, mut mutation) map[string]any {
	out := cloneObj(vals)
	parent := objAt(out, mut.path[:len(mut.path)-1])
	last := mut.path[len(mut.path)-1]
	if mut.kind == kAbsent {
		delete(parent, last)
	} else if !mut.dup {
		parent[last] = cloneValue(mut.value)
	}
	return out
}

// withDuplicate writes the member name a second time, first in the object.
func withDuplicate(t testing.TB, body []byte, name string, value any) []byte {
	member := append(marshal(t, name), ':')
	member = append(member, marshal(t, value)...)
	return append(append(append([]byte("{"), member...), ','), body[1:]...)
}

// padObject returns obj with an unknown member that makes its JSON text exactly n characters long.
func padObject(t testing.TB, obj map[string]any, n int) (map[string]any, bool) {
	o := cloneObj(obj)
	o["zz"] = ""
	l := utf8.RuneCount(marshal(t, o))
	if n < l {
		return nil, false
	}
	o["zz"] = strings.Repeat("ü", n-l)
	return o, true
}

// mutations lists what is done to one element: derived from its row only.
func mutations(t testing.TB, c msgCase, tg target, vals map[string]any) []mutation {
	e, path := tg.row, tg.path
	top := len(path) == 1
	var ms []mutation
	add := func(label string, k kind, v any) {
		ms = append(ms, mutation{label: label, path: path, kind: k, value: v})
	}
	cur, _ := lookup(vals, path)
	if top {
		ms = append(ms, mutation{label: "duplicate", path: path, value: cur, dup: true})
		if e.Name == "messageType" {
			return ms // everything else about it is Erro 101 (TestDecodeHeader)
		}
	}
	if requiredIn(e, modelMessage(c, vals, "")) {
		add("missing", kAbsent, nil)
	}
	add("empty", kEmpty, "")
	add("null", kEmpty, nil)
	if top && e.Name == "messageVersion" {
		add("wrong-type/number", kFormat, 231)
		add("wrong-type/array", kFormat, []any{string(c.table.Version)})
		return ms // a wrong value is Erro 102 (TestDecodeHeader)
	}
	switch e.Type {
	case String:
		stringMutations(e, "", func(s string) any { return s }, add)
		add("wrong-type/number", kFormat, 42)
		add("wrong-type/array", kFormat, []any{cur})
	case StringArray:
		item := e.Item
		if item == nil {
			item = &Element{}
		}
		one, _ := cur.([]any)
		sample := one[0]
		stringMutations(item, "item/", func(s string) any { return []any{s} }, add)
		add("item/empty", kFormat, []any{""})
		add("item/number", kFormat, []any{7})
		add("item/null", kFormat, []any{nil})
		add("empty-array", kFormat, []any{})
		if e.Max > 0 && e.Max < 200 {
			list := make([]any, e.Max+1)
			for i := range list {
				list[i] = sample
			}
			add("too-many", kFormat, list)
		}
		add("wrong-type/string", kFormat, sample)
		add("wrong-type/number", kFormat, 42)
	case Boolean:
		add("value/true", kValid, true)
		add("value/false", kValid, false)
		add("wrong-type/string", kFormat, "true")
		add("wrong-type/number", kFormat, 1)
	case Object:
		obj, _ := cur.(map[string]any)
		add("empty-object", kValid, map[string]any{})
		add("wrong-type/string", kFormat, "x")
		add("wrong-type/array", kFormat, []any{obj})
		if e.Max > 0 {
			if o, ok := padObject(t, obj, e.Max); ok {
				add("max-multibyte", kValid, o)
			}
			if o, ok := padObject(t, obj, e.Max+1); ok {
				add("too-long", kFormat, o)
			}
		}
	case ObjectArray:
		list, _ := cur.([]any)
		add("empty-array", kFormat, []any{})
		add("item/null", kFormat, []any{nil})
		add("item/string", kFormat, []any{"x"})
		add("item/empty-object", kValid, []any{map[string]any{}})
		if e.Max > 0 && e.Max < 200 {
			many := make([]any, e.Max+1)
			for i := range many {
				many[i] = list[0]
			}
			add("too-many", kFormat, many)
		}
		add("wrong-type/object", kFormat, list[0])
		add("wrong-type/string", kFormat, "x")
	}
	return ms
}

// stringMutations lists the values tried on a string (or on the one item of a string array, wrapped).
func stringMutations(e *Element, prefix string, wrap func(string) any, add func(string, kind, any)) {
	if e.Max > 0 {
		if e.Format == Any && e.Values == nil {
			// Annex A: a character is one UTF-8 character, not one byte.
			add(prefix+"max-multibyte", kValid, wrap(strings.Repeat("ü", e.Max)))
			add(prefix+"too-long", kFormat, wrap(strings.Repeat("ü", e.Max+1)))
		} else {
			fill := map[Format]string{Numeric: "1", Base64: "A", Base64URL: "A", Alphanumeric: "a"}[e.Format]
			if fill != "" && e.Values == nil {
				add(prefix+"max", kValid, wrap(strings.Repeat(fill, e.Max)))
			}
			if fill == "" {
				fill = "ü"
			}
			add(prefix+"too-long", kFormat, wrap(strings.Repeat(fill, e.Max+1)))
		}
	}
	if e.Min > 1 {
		fill := "a"
		if e.Format == Numeric {
			fill = "1"
		}
		add(prefix+"too-short", kFormat, wrap(strings.Repeat(fill, e.Min-1)))
	}
	if bad, ok := badFormat(e); ok {
		add(prefix+"bad-format", kFormat, wrap(bad))
	}
	if e.Values != nil {
		for _, v := range enumSamples(e.Values.OK) {
			if fits(e, v) {
				add(prefix+"value/"+v, kValid, wrap(v))
			}
		}
		if v, ok := unlisted(e); ok {
			add(prefix+"unlisted/"+v, kFormat, wrap(v))
		}
		if v, ok := firstFitting(e, e.Values.EMVCo); ok {
			add(prefix+"reserved-emvco/"+v, kReserved, wrap(v))
		}
		if v, ok := firstFitting(e, e.Values.DS); ok {
			add(prefix+"reserved-ds/"+v, kValid, wrap(v))
		}
	}
	switch e.Format {
	case CurrencyCode:
		add(prefix+"iso-unknown/000", kISO, wrap("000"))
		add(prefix+"iso-excluded/959", kISO, wrap("959")) // gold (Table A.5)
		add(prefix+"iso-excluded/999", kISO, wrap("999")) // no currency (Table A.5)
	case CountryCode:
		add(prefix+"iso-unknown/000", kISO, wrap("000"))
		add(prefix+"iso-excluded/999", kISO, wrap("999")) // 901-999 reserved by ISO (Table A.5)
	}
}

// badFormat is a value of an allowed length that breaks the row's format.
func badFormat(e *Element) (string, bool) {
	n := max(e.Min, 1)
	var s string
	switch e.Format {
	case Numeric:
		s = strings.Repeat("1", n-1) + "x"
	case UUID:
		s = "8a880dc0d2d24067bcb1b08d1690b26e0000" // 36 hex digits without hyphens
	case URL:
		s = "ftp://acs.example/3ds"
	case DateTime:
		s = "20261323100000" // month 13
	case Date:
		s = "20261323"
	case YYMM:
		s = "2913"
	case CountryCode, CurrencyCode:
		s = "27x"
	case Email:
		s = "anna.example.com"
	case Base64URL:
		s = strings.Repeat("+", n)
	case Base64:
		s = strings.Repeat("-", n)
	case Alphanumeric:
		s = strings.Repeat("-", n)
	case IPAddress:
		s = "192.0.2.256"
	case Language:
		s = "!!"
	default:
		return "", false
	}
	return s, fits(&Element{Min: e.Min, Max: e.Max}, s)
}

// unlisted is a value of the row's length and format that no list of its enumeration names.
func unlisted(e *Element) (string, bool) {
	lo, hi := max(e.Min, 1), e.Max
	if hi == 0 || hi > 5 {
		hi = 5
	}
	for w := lo; w <= hi; w++ {
		for _, ch := range []string{"0", "9", "Z", "X", "q"} {
			s := strings.Repeat(ch, w)
			if fits(e, s) && !inAnyList(e.Values, s) {
				return s, true
			}
		}
	}
	return "", false
}

func erroVersionFor(c msgCase, mut mutation, want verdict) Version {
	if want.code == ErrMessageInvalid || want.code == ErrVersionUnsupported ||
		(samePath(mut.path, []string{"messageVersion"}) && mut.kind != kValid) {
		return Versions[len(Versions)-1] // the reader does not know the version: the newest
	}
	return c.table.Version
}

// TestElements runs, for every message, version, channel and category, every element of the table
// through the mutations of its row.
func TestElements(t *testing.T) {
	for _, c := range allCases(t) {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			base := validMessage(t, c.table, c.ch, c.cat)
			t.Run("valid", func(t *testing.T) {
				decodeAs(t, c, c.ctx(), base, marshal(t, base), verdict{}, c.table.Version)
			})
			for _, tg := range targets(c) {
				t.Run(strings.Join(tg.path, "."), func(t *testing.T) { testElement(t, c, base, tg) })
			}
		})
	}
}

func testElement(t *testing.T, c msgCase, base map[string]any, tg target) {
	vals, added := withElement(t, c, base, tg.path)
	if added {
		want := expect(c, vals, mutation{path: tg.path, kind: kValid})
		ok := t.Run("present", func(t *testing.T) {
			decodeAs(t, c, c.ctx(), vals, marshal(t, vals), want, c.table.Version)
		})
		if want.code != "" || !ok {
			return // present where its condition excludes it (or broken): nothing more to try
		}
	}
	for _, mut := range mutations(t, c, tg, vals) {
		t.Run(mut.label, func(t *testing.T) {
			mv := apply(vals, mut)
			body := marshal(t, mv)
			if mut.dup {
				body = withDuplicate(t, body, mut.path[0], mut.value)
			}
			want := expect(c, mv, mut)
			if len(body) > MaxMessageSize {
				holds(t, want.code != "", "%s at its maximum length (%d characters) makes a message of %d bytes, over MaxMessageSize (%d): refused with 101",
					strings.Join(mut.path, "."), tg.row.Max, len(body), MaxMessageSize)
				want = verdict{code: ErrMessageInvalid}
				mv = map[string]any{} // not read at all: nothing to echo
			}
			decodeAs(t, c, c.ctx(), mv, body, want, erroVersionFor(c, mut, want))
		})
	}
}

// ---------------------------------------------------------------------------------------------------
// Elements the table does not give this channel or category, and the JSON type of elements whose type
// changed between versions.

// TestOtherChannelIgnored: an element the table restricts to other channels or categories is not
// part of the message (Req 209): present with any value, it is ignored.
func TestOtherChannelIgnored(t *testing.T) {
	for _, c := range allCases(t) {
		if c.ch == 0 {
			continue
		}
		base := validMessage(t, c.table, c.ch, c.cat)
		for i := range c.table.Elements {
			e := &c.table.Elements[i]
			if e.Inc == Absent || appliesTo(e, c.ch, c.cat) {
				continue
			}
			if _, taken := base[e.Name]; taken {
				continue
			}
			t.Run(c.String()+"/"+e.Name, func(t *testing.T) {
				vals := cloneObj(base)
				vals[e.Name] = 42
				m, _ := decodeAs(t, c, c.ctx(), vals, marshal(t, vals), verdict{}, c.table.Version)
				if m.Has(e.Name) || m.Extra(e.Name) == nil {
					t.Errorf("%s: Has %v, Extra %s; want it kept aside as extra", e.Name, m.Has(e.Name), m.Extra(e.Name))
				}
			})
		}
	}
}

// TestTypesAcrossVersions: where an element's JSON type differs between versions (2.3.1 arrays where
// 2.2.0 has strings, objects where it has strings, ...), a value of the other version's type is
// refused with 203.
func TestTypesAcrossVersions(t *testing.T) {
	for _, c := range allCases(t) {
		for _, v := range Versions {
			other, _ := TableOf(c.table.Type, v)
			if v == c.table.Version {
				continue
			}
			for i := range c.table.Elements {
				e := &c.table.Elements[i]
				j := indexOf(other.Elements, e.Name)
				if j < 0 || other.Elements[j].Type == e.Type || !appliesTo(e, c.ch, c.cat) {
					continue
				}
				o := &other.Elements[j]
				t.Run(fmt.Sprintf("%s/%s/as-%s", c, e.Name, v), func(t *testing.T) {
					base := validMessage(t, c.table, c.ch, c.cat)
					vals, _ := withElement(t, c, base, []string{e.Name})
					oc := msgCase{table: other, ch: c.ch, cat: c.cat}
					mut := mutation{path: []string{e.Name}, kind: kFormat, value: synth(t, oc, o, modelMessage(oc, vals, ""), true)}
					mv := apply(vals, mut)
					decodeAs(t, c, c.ctx(), mv, marshal(t, mv), expect(c, mv, mut), c.table.Version)
				})
			}
		}
	}
}

// TestChallengeIndicatorShape: the example of a type change: threeDSRequestorChallengeInd is
// an array of one or two strings in 2.3.1 and a single string in 2.2.0 and 2.1.0.
func TestChallengeIndicatorShape(t *testing.T) {
	tests := []struct {
		v     Version
		value any
		want  string
	}{
		{V231, []any{"01"}, ""},
		{V231, []any{"02", "04"}, ""},
		{V231, "01", ErrFormat},
		{V231, []any{"01", "02", "03"}, ErrFormat},
		{V231, []any{}, ErrFormat},
		{V231, []any{"15"}, ErrReservedValue},
		{V220, "01", ""},
		{V220, []any{"01"}, ErrFormat},
		{V210, "04", ""},
		{V210, []any{"01"}, ErrFormat},
	}
	for _, tt := range tests {
		tb, _ := TableOf(TypeAReq, tt.v)
		c := msgCase{table: tb, ch: BRW, cat: PA}
		t.Run(fmt.Sprintf("%s/%s", c, marshal(t, tt.value)), func(t *testing.T) {
			vals := validMessage(t, tb, BRW, PA)
			vals["threeDSRequestorChallengeInd"] = tt.value
			want := verdict{}
			if tt.want != "" {
				want = verdict{tt.want, []string{"threeDSRequestorChallengeInd"}}
			}
			decodeAs(t, c, Context{}, vals, marshal(t, vals), want, tb.Version)
		})
	}
}

// ---------------------------------------------------------------------------------------------------
// Rules of the reader that are not one element's.

func oneCase(t testing.TB, typ MessageType, v Version, ch Channel, cat Category) msgCase {
	tb, ok := TableOf(typ, v)
	if !ok {
		t.Fatalf("no %s %s table", typ, v)
	}
	return msgCase{table: tb, ch: ch, cat: cat}
}

// TestDecodeHeader: not JSON, not the expected message type, or not a supported version.
func TestDecodeHeader(t *testing.T) {
	for _, c := range allCases(t) {
		base := validMessage(t, c.table, c.ch, c.cat)
		body := marshal(t, base)
		// Bodies that are not a message: nothing can be echoed.
		formatted := map[string][]byte{
			"not-json":      []byte("not json"),
			"empty-body":    {},
			"array":         []byte("[" + string(body) + "]"),
			"null":          []byte("null"),
			"string":        []byte(`"AReq"`),
			"truncated":     body[:len(body)-1],
			"trailing-data": append(append([]byte{}, body...), []byte(` {}`)...),
			"invalid-utf8":  bytes.Replace(body, []byte(`"messageType"`), []byte("\"x\xff\":1,\"messageType\""), 1),
			"too-big":       append(append([]byte{}, body[:len(body)-1]...), []byte(`,"zz":"`+strings.Repeat("a", MaxMessageSize)+`"}`)...),
		}
		for name, b := range formatted {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				_, e := decodeAs(t, c, c.ctx(), map[string]any{}, b, verdict{code: ErrMessageInvalid}, V231)
				if e.ErrorDetail != "Invalid Formatted Message" {
					t.Errorf("errorDetail %q, want Invalid Formatted Message", e.ErrorDetail)
				}
			})
		}
		// Messages of another type (or none): the ids are echoed.
		typed := map[string]map[string]any{
			"no-messageType":     without(base, "messageType"),
			"messageType-number": with(base, "messageType", 1),
			"messageType-null":   with(base, "messageType", nil),
		}
		for _, other := range []MessageType{TypeAReq, TypeARes, TypeCReq, TypeCRes, TypeRReq, TypeRRes, TypeErro, TypeOReq, "PReq", "areq", ""} {
			if other != c.table.Type {
				typed["messageType/"+string(other)] = with(base, "messageType", string(other))
			}
		}
		for name, vals := range typed {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				_, e := decodeAs(t, c, c.ctx(), vals, marshal(t, vals), verdict{code: ErrMessageInvalid}, V231)
				if e.ErrorDetail != "Invalid Message Type" {
					t.Errorf("errorDetail %q, want Invalid Message Type", e.ErrorDetail)
				}
			})
		}
		for _, v := range []any{"2.0.0", "2.2.1", "2.3.0", "3.0.0", "1.0.2", "2.3.10", "99.99.99", "2.3.1 ", "v2.3.1", "2.3"} {
			t.Run(fmt.Sprintf("%s/version/%v", c, v), func(t *testing.T) {
				vals := with(base, "messageVersion", v)
				_, e := decodeAs(t, c, c.ctx(), vals, marshal(t, vals), verdict{ErrVersionUnsupported, nil}, V231)
				if e.ErrorDetail != "2.1.0,2.2.0,2.3.1" {
					t.Errorf("errorDetail %q, want 2.1.0,2.2.0,2.3.1", e.ErrorDetail)
				}
			})
		}
		if c.table.Type != TypeAReq && c.ch != 0 {
			for _, v := range Versions {
				if v == c.table.Version {
					continue
				}
				// Req 320: the version does not change during a transaction.
				t.Run(fmt.Sprintf("%s/transaction-version-%s", c, v), func(t *testing.T) {
					ctx := c.ctx()
					ctx.Version = v
					decodeAs(t, c, ctx, base, body, verdict{ErrFormat, []string{"messageVersion"}}, v)
				})
			}
		}
	}
}

func with(vals map[string]any, name string, v any) map[string]any {
	out := cloneObj(vals)
	out[name] = v
	return out
}

func without(vals map[string]any, names ...string) map[string]any {
	out := cloneObj(vals)
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// TestErroMessageTypeOnlyWhenRecognisable: errorMessageType is "conditional on Message Type being
// recognisable" (Table A.1 p.251): never the type the reader expected for a body that is not that type.
func TestErroMessageTypeOnlyWhenRecognisable(t *testing.T) {
	_, e := Decode([]byte("not json"), TypeAReq, Context{})
	if e == nil || e.ErrorMessageType != "" {
		t.Errorf("Erro for a body that is not JSON: %+v, want no errorMessageType", e)
	}
	_, e = Decode(marshal(t, validMessage(t, AResTables[V231], APP, PA)), TypeAReq, Context{})
	if e == nil || (e.ErrorMessageType != "" && e.ErrorMessageType != string(TypeARes)) {
		t.Errorf("Erro for an ARes read as an AReq: %+v, want errorMessageType ARes or none", e)
	}
}

// TestDecodeReturnsOneOrTheOther: Decode's result is a message or an Erro, never both.
func TestDecodeReturnsOneOrTheOther(t *testing.T) {
	c := oneCase(t, TypeAReq, V231, BRW, PA)
	vals := without(validMessage(t, c.table, c.ch, c.cat), "acctNumber")
	m, e := Decode(marshal(t, vals), TypeAReq, Context{})
	if e == nil {
		t.Fatal("an AReq without acctNumber was accepted")
	}
	holds(t, m == nil, "Decode returns the partly read message together with its Erro (last line of Decode: return m, c.erro(m, want))")
}

// TestDuplicates: a member twice in the message is 204 naming it (top-level members are covered by
// TestElements); Annex A.4 Table A.4 applies it to any data element, and A.16 to identical array
// entries.
func TestDuplicates(t *testing.T) {
	c := oneCase(t, TypeAReq, V231, APP, PA)
	base := validMessage(t, c.table, c.ch, c.cat)
	t.Run("unknown-member", func(t *testing.T) {
		body := withDuplicate(t, marshal(t, with(base, "someFutureElement", 1)), "someFutureElement", 2)
		decodeAs(t, c, Context{}, base, body, verdict{ErrDuplicate, []string{"someFutureElement"}}, V231)
	})
	t.Run("inside-object", func(t *testing.T) {
		body := bytes.Replace(marshal(t, base), []byte(`"sdkInterface":"01"`), []byte(`"sdkInterface":"01","sdkInterface":"02"`), 1)
		_, e := Decode(body, TypeAReq, Context{})
		holds(t, e != nil && e.ErrorCode == ErrDuplicate && e.ErrorDetail == "deviceRenderOptions.sdkInterface",
			"a member twice inside an object (deviceRenderOptions.sdkInterface) is not refused with 204: %v", e)
	})
	t.Run("array-entries", func(t *testing.T) {
		vals := cloneObj(base)
		vals["deviceRenderOptions"].(map[string]any)["sdkUiType"] = []any{"01", "01"}
		_, e := Decode(marshal(t, vals), TypeAReq, Context{})
		holds(t, e != nil && e.ErrorCode == ErrDuplicate,
			"identical entries of an array (sdkUiType [\"01\",\"01\"]) are not refused with 204 (Annex A.16): %v", e)
	})
}

// TestExtensions: Annex A.12.3. A critical extension the reader does not recognise is 202 naming its
// id; a non-critical one is ignored; a critical one the reader recognises is accepted.
func TestExtensions(t *testing.T) {
	ext := func(id string, critical bool) map[string]any {
		return map[string]any{"name": "ext-" + id, "id": id, "criticalityIndicator": critical, "data": map[string]any{"v": "x"}}
	}
	for _, c := range allCases(t) {
		if indexOf(c.table.Elements, "messageExtension") < 0 {
			continue
		}
		base := validMessage(t, c.table, c.ch, c.cat)
		run := func(name string, list []any, ctx Context, want verdict) {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				vals := with(base, "messageExtension", list)
				decodeAs(t, c, ctx, vals, marshal(t, vals), want, c.table.Version)
			})
		}
		known := c.ctx()
		known.Extensions = []string{"A000000802-004"}
		run("critical-unknown", []any{ext("ID1", true)}, c.ctx(), verdict{ErrCriticalExtension, []string{"ID1"}})
		run("critical-unknown-after-noncritical", []any{ext("ID3", false), ext("A000000004-123", true)}, c.ctx(), verdict{ErrCriticalExtension, []string{"A000000004-123"}})
		run("non-critical", []any{ext("ID3", false)}, c.ctx(), verdict{})
		run("critical-known", []any{ext("A000000802-004", true)}, known, verdict{})
		run("critical-known-and-noncritical", []any{ext("A000000802-004", true), ext("ID3", false)}, known, verdict{})
		run("critical-unknown-with-known", []any{ext("A000000802-004", true), ext("ID9", true)}, known, verdict{ErrCriticalExtension, []string{"ID9"}})
	}
	t.Run("two-critical-unknown", func(t *testing.T) {
		c := oneCase(t, TypeAReq, V231, BRW, PA)
		vals := with(validMessage(t, c.table, c.ch, c.cat), "messageExtension", []any{ext("ID1", true), ext("ID2", true)})
		_, e := Decode(marshal(t, vals), c.table.Type, c.ctx())
		if e == nil || e.ErrorCode != ErrCriticalExtension {
			t.Fatalf("got %v, want 202", e)
		}
		holds(t, e.ErrorDetail == "ID1,ID2", "two unrecognised critical extensions give errorDetail %q; Table A.4 (202) wants every id, comma-delimited", e.ErrorDetail)
	})
}

// TestIDs: ids are echoed exactly as received (an upper-case UUID unchanged), and only canonical
// RFC 4122 forms are accepted.
func TestIDs(t *testing.T) {
	for _, c := range allCases(t) {
		base := validMessage(t, c.table, c.ch, c.cat)
		for i := range c.table.Elements {
			e := &c.table.Elements[i]
			if e.Format != UUID || !appliesTo(e, c.ch, c.cat) {
				continue
			}
			vals, _ := withElement(t, c, base, []string{e.Name})
			upper := strings.ToUpper(vals[e.Name].(string))
			t.Run(c.String()+"/"+e.Name+"/upper-case", func(t *testing.T) {
				mv := with(vals, e.Name, upper)
				m, _ := decodeAs(t, c, c.ctx(), mv, marshal(t, mv), verdict{}, c.table.Version)
				if m.Str(e.Name) != upper {
					t.Errorf("%s read as %q, want %q", e.Name, m.Str(e.Name), upper)
				}
				// An Erro about the same message echoes the id unchanged (checkErro compares).
				if req := firstRequired(c, mv, e.Name); req != "" {
					mv = without(mv, req)
					decodeAs(t, c, c.ctx(), mv, marshal(t, mv), expect(c, mv, mutation{path: []string{req}, kind: kAbsent}), c.table.Version)
				}
			})
			canonical := vals[e.Name].(string)
			plain := strings.ReplaceAll(canonical, "-", "")
			for label, v := range map[string]string{
				"no-hyphens":  plain,
				"urn":         "urn:uuid:" + canonical,
				"braces":      "{" + canonical + "}",
				"hyphens-off": plain[:9] + "-" + plain[9:13] + "-" + plain[13:17] + "-" + plain[17:21] + "-" + plain[21:30],
				"short":       canonical[:35],
				"long":        canonical + "0",
				"not-hex":     "g" + canonical[1:],
				"spaces":      " " + canonical[1:],
			} {
				t.Run(c.String()+"/"+e.Name+"/"+label, func(t *testing.T) {
					mut := mutation{path: []string{e.Name}, kind: kFormat, value: v}
					mv := apply(vals, mut)
					decodeAs(t, c, c.ctx(), mv, marshal(t, mv), expect(c, mv, mut), c.table.Version)
				})
			}
		}
	}
}

// firstRequired is a required top-level element other than the ids, the header and except, whose
// absence makes an Erro of the message.
func firstRequired(c msgCase, vals map[string]any, except string) string {
	m := modelMessage(c, vals, "")
	for i := range c.table.Elements {
		e := &c.table.Elements[i]
		switch e.Name {
		case except, "messageType", "messageVersion", "threeDSServerTransID", "acsTransID", "dsTransID", "sdkTransID":
			continue
		}
		if _, ok := vals[e.Name]; ok && appliesTo(e, m.Channel, m.Category) && requiredIn(e, m) {
			return e.Name
		}
	}
	return ""
}

// TestNamedCases are the examples, each a value the element tests also reach generically.
func TestNamedCases(t *testing.T) {
	areq := func(v Version) (msgCase, map[string]any) {
		c := oneCase(t, TypeAReq, v, BRW, PA)
		return c, validMessage(t, c.table, BRW, PA)
	}
	one := func(name string) []string { return []string{name} }
	for _, v := range Versions {
		c, base := areq(v)
		for _, cur := range []string{"999", "959"} {
			t.Run(fmt.Sprintf("%s/purchaseCurrency/%s", c, cur), func(t *testing.T) {
				vals := with(base, "purchaseCurrency", cur)
				decodeAs(t, c, Context{}, vals, marshal(t, vals), verdict{ErrISOCode, one("purchaseCurrency")}, v)
			})
		}
		t.Run(c.String()+"/merchantName/40-umlauts", func(t *testing.T) {
			name := "Bäckerei Müller & Söhne GmbH, Düsseldorf"
			if n := utf8.RuneCountInString(name); n != 40 || len(name) <= 40 {
				t.Fatalf("test name has %d characters, %d bytes", n, len(name))
			}
			vals := with(base, "merchantName", name)
			m, _ := decodeAs(t, c, Context{}, vals, marshal(t, vals), verdict{}, v)
			if m.Str("merchantName") != name {
				t.Errorf("merchantName read as %q", m.Str("merchantName"))
			}
			vals = with(base, "merchantName", name+"ü")
			decodeAs(t, c, Context{}, vals, marshal(t, vals), verdict{ErrFormat, one("merchantName")}, v)
		})
		t.Run(c.String()+"/browserLanguage/35", func(t *testing.T) {
			lang := "de-DE-1996-x-abcdefgh-abcdefgh-abcd"
			if len(lang) != 35 {
				t.Fatalf("tag has %d characters", len(lang))
			}
			vals := with(base, "browserLanguage", lang)
			want := verdict{}
			if v != V231 {
				want = verdict{ErrFormat, one("browserLanguage")} // at most 8 before 2.3.1
			}
			decodeAs(t, c, Context{}, vals, marshal(t, vals), want, v)
		})
		t.Run(c.String()+"/browserJavascriptEnabled-false", func(t *testing.T) {
			vals := without(with(base, "browserJavascriptEnabled", false), "browserJavaEnabled", "browserColorDepth",
				"browserScreenHeight", "browserScreenWidth", "browserTZ")
			if v == V231 {
				vals = without(vals, "browserLanguage") // 2.2.0 keeps it required (public 2.2.0 model)
			}
			want := verdict{}
			if v == V210 {
				// 2.1.0 has no browserJavascriptEnabled: the browser fields are simply required.
				want = verdict{ErrRequiredMissing, []string{"browserJavaEnabled", "browserColorDepth", "browserScreenHeight", "browserScreenWidth", "browserTZ"}}
			}
			m, _ := decodeAs(t, c, Context{}, vals, marshal(t, vals), want, v)
			if v == V210 {
				return
			}
			if js, ok := m.Bool("browserJavascriptEnabled"); !ok || js {
				t.Errorf("browserJavascriptEnabled read as %v, %v", js, ok)
			}
		})
		t.Run(c.String()+"/unknown-elements", func(t *testing.T) {
			vals := with(with(base, "someFutureElement", map[string]any{"tolerated": true}), "zzz", []any{1, 2})
			m, _ := decodeAs(t, c, Context{}, vals, marshal(t, vals), verdict{}, v)
			if string(m.Extra("someFutureElement")) != `{"tolerated":true}` || m.Has("someFutureElement") {
				t.Errorf("Extra(someFutureElement) = %s", m.Extra("someFutureElement"))
			}
		})
	}
}

// TestAnnexA: values Annex A of 2.3.1 states outright, checked against the tables (the element tests
// can only check the reader against the tables; these check a few rows against the specification).
func TestAnnexA(t *testing.T) {
	type check struct {
		typ   MessageType
		ch    Channel
		path  []string
		value any
		want  string // "" accepted, else the Erro code
	}
	checks := []check{
		// Table A.28 p.374: timeout, an integer 60000-500000 in 5-6 characters.
		{TypeARes, BRW, []string{"spcTransData", "timeout"}, "60000", ""},
		{TypeARes, BRW, []string{"spcTransData", "timeout"}, "500000", ""},
		{TypeARes, BRW, []string{"spcTransData", "timeout"}, "59999", ErrFormat},
		{TypeARes, BRW, []string{"spcTransData", "timeout"}, "500001", ErrFormat},
		// Table A.1 p.281: sdkMaxTimeout greater than or equal to 05.
		{TypeAReq, APP, []string{"sdkMaxTimeout"}, "04", ErrFormat},
		{TypeAReq, APP, []string{"sdkMaxTimeout"}, "05", ""},
		// p.255: purchaseInstalData greater than 1, "2", "02", "002" accepted.
		{TypeAReq, BRW, []string{"purchaseInstalData"}, "1", ErrFormat},
		{TypeAReq, BRW, []string{"purchaseInstalData"}, "002", ""},
		// p.276: recurringFrequency 1-9999, "31", "031", "0031" accepted.
		{TypeAReq, BRW, []string{"recurringFrequency"}, "0031", ""},
		{TypeAReq, BRW, []string{"recurringFrequency"}, "0", ErrFormat},
		// p.213: browserColorDepth 1-99 in 1-2 characters.
		{TypeAReq, BRW, []string{"browserColorDepth"}, "0", ErrFormat},
		{TypeAReq, BRW, []string{"browserColorDepth"}, "30", ""},
		// p.192: threeDSRequestorDecMaxTime 00001-10080.
		{TypeAReq, BRW, []string{"threeDSRequestorDecMaxTime"}, "10081", ErrFormat},
		// p.288: transChallengeExemption 79 accepted, 06 EMVCo-reserved.
		{TypeARes, BRW, []string{"transChallengeExemption"}, "79", ""},
		{TypeARes, BRW, []string{"transChallengeExemption"}, "06", ErrReservedValue},
		// p.232: challengeCancel 02 reserved for EMVCo.
		{TypeRReq, BRW, []string{"challengeCancel"}, "02", ErrReservedValue},
		// Table A.14 p.337: acsUiTemplate 07, deviceUserInterfaceMode 04.
		{TypeARes, APP, []string{"acsRenderingType", "acsUiTemplate"}, "07", ""},
		{TypeARes, APP, []string{"acsRenderingType", "deviceUserInterfaceMode"}, "05", ErrFormat},
	}
	for _, ck := range checks {
		c := oneCase(t, ck.typ, V231, ck.ch, PA)
		t.Run(fmt.Sprintf("%s/%s/%v", c, strings.Join(ck.path, "."), ck.value), func(t *testing.T) {
			vals, _ := withElement(t, c, validMessage(t, c.table, c.ch, c.cat), ck.path)
			if ck.path[0] == "purchaseInstalData" {
				vals["threeDSRequestorAuthenticationInd"] = "03" // an instalment: else it must be absent
				vals = complete(t, c, vals)
			}
			mut := mutation{path: ck.path, kind: kValid, value: ck.value}
			want := verdict{}
			if ck.want != "" {
				mut.kind = kFormat
				if ck.want == ErrReservedValue {
					mut.kind = kReserved
				}
				want = verdict{ck.want, []string{strings.Join(ck.path, ".")}}
			}
			mv := apply(vals, mut)
			decodeAs(t, c, c.ctx(), mv, marshal(t, mv), want, V231)
		})
	}
}

// TestIndented: whitespace between tokens changes nothing (an empty value is empty with spaces around
// it too).
func TestIndented(t *testing.T) {
	for _, c := range allCases(t) {
		base := validMessage(t, c.table, c.ch, c.cat)
		for _, tg := range targets(c) {
			if _, ok := lookup(base, tg.path); !ok || samePath(tg.path, []string{"messageType"}) {
				continue
			}
			t.Run(c.String()+"/"+strings.Join(tg.path, ".")+"/empty-indented", func(t *testing.T) {
				mut := mutation{path: tg.path, kind: kEmpty, value: ""}
				mv := apply(base, mut)
				body, err := json.MarshalIndent(mv, " ", "\t ")
				if err != nil {
					t.Fatal(err)
				}
				want := expect(c, mv, mut)
				decodeAs(t, c, c.ctx(), mv, body, want, erroVersionFor(c, mut, want))
			})
		}
	}
}

// ---------------------------------------------------------------------------------------------------
// Encode.

// build makes a Message with NewMessage and Set from generated values.
func build(c msgCase, vals map[string]any) *Message {
	m := NewMessage(c.table.Type, c.table.Version)
	m.Channel, m.Category = c.ch, c.cat
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		m.Set(k, modelValue(vals[k]))
	}
	return m
}

func sameValue(a, b any) bool {
	ra, okA := a.(json.RawMessage)
	rb, okB := b.(json.RawMessage)
	if okA || okB {
		var ca, cb bytes.Buffer
		return okA && okB && json.Compact(&ca, ra) == nil && json.Compact(&cb, rb) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
	}
	return reflect.DeepEqual(a, b)
}

// TestEncodeRoundTrip: a message built with NewMessage and Set, for every table and with every element
// the table allows, is written by Encode and read back by Decode unchanged.
func TestEncodeRoundTrip(t *testing.T) {
	for _, c := range allCases(t) {
		base := validMessage(t, c.table, c.ch, c.cat)
		variants := map[string]map[string]any{"minimal": base}
		for i := range c.table.Elements {
			e := &c.table.Elements[i]
			if !appliesTo(e, c.ch, c.cat) {
				continue
			}
			if vals, added := withElement(t, c, base, []string{e.Name}); added && expect(c, vals, mutation{path: []string{e.Name}}).code == "" {
				variants["with/"+e.Name] = vals
			}
		}
		for name, vals := range variants {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				m := build(c, vals)
				out, err := Encode(m)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				back, _ := decodeAs(t, c, c.ctx(), vals, out, verdict{}, c.table.Version)
				for _, n := range m.Names() {
					if !sameValue(m.values[n], back.values[n]) {
						t.Errorf("%s: wrote %v, read %v", n, m.values[n], back.values[n])
					}
				}
				for _, n := range m.Names() {
					if !back.Has(n) {
						t.Errorf("wrote %s, read it back absent", n)
					}
				}
				if got, want := namesBut(back.Names(), idNames...), namesBut(m.Names(), idNames...); !reflect.DeepEqual(got, want) {
					t.Errorf("read back %v, wrote %v (ids aside: TestDecodedNames)", got, want)
				}
			})
		}
	}
}

func namesBut(names []string, except ...string) []string {
	var out []string
	for _, n := range names {
		skip := false
		for _, x := range except {
			skip = skip || n == x
		}
		if !skip {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// TestDecodedNames: a decoded message lists every element it holds, and Encode writes it back.
func TestDecodedNames(t *testing.T) {
	var missing []string
	var refused []string
	for _, c := range allCases(t) {
		vals := validMessage(t, c.table, c.ch, c.cat)
		m, e := Decode(marshal(t, vals), c.table.Type, c.ctx())
		if e != nil {
			t.Fatalf("%s: %v", c, e)
		}
		for i := range c.table.Elements {
			if n := c.table.Elements[i].Name; m.Has(n) && !contains(m.Names(), n) {
				missing = append(missing, c.String()+"/"+n)
			}
		}
		if _, err := Encode(m); err != nil {
			refused = append(refused, fmt.Sprintf("%s (%v)", c, err))
		}
	}
	holds(t, len(missing) == 0 && len(refused) == 0,
		"Names() of a decoded message leaves out the transaction ids (Decode stores them before the table pass, so Set never records them in order), so Encode of a decoded message drops them and refuses it: %d ids missing from Names, e.g. %v; %d re-encodings refused, e.g. %v",
		len(missing), first(missing), len(refused), first(refused))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func first(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

// TestEncodeRefuses: Encode writes only what a recipient would accept: no element the version does not
// define for the message (authenticationType in a 2.3.1 ARes, trustListStatus in a 2.2.0 ARes), none
// of another channel, no message without a required element, no invalid value.
func TestEncodeRefuses(t *testing.T) {
	for _, c := range allCases(t) {
		base := validMessage(t, c.table, c.ch, c.cat)
		for _, v := range Versions {
			other, _ := TableOf(c.table.Type, v)
			for i := range other.Elements {
				o := &other.Elements[i]
				if indexOf(c.table.Elements, o.Name) >= 0 {
					continue
				}
				t.Run(fmt.Sprintf("%s/undefined/%s-of-%s", c, o.Name, v), func(t *testing.T) {
					oc := msgCase{table: other, ch: c.ch, cat: c.cat}
					m := build(c, with(base, o.Name, synth(t, oc, o, modelMessage(oc, base, ""), true)))
					if out, err := Encode(m); err == nil || !strings.Contains(err.Error(), o.Name) {
						t.Errorf("Encode = %s, %v; want an error naming %s", out, err, o.Name)
					}
				})
			}
		}
		for i := range c.table.Elements {
			e := &c.table.Elements[i]
			if c.ch != 0 && e.Inc != Absent && !appliesTo(e, c.ch, c.cat) {
				t.Run(fmt.Sprintf("%s/other-channel/%s", c, e.Name), func(t *testing.T) {
					m := build(c, base)
					m.Set(e.Name, modelValue(synth(t, c, e, modelMessage(c, base, ""), true)))
					if out, err := Encode(m); err == nil {
						t.Errorf("Encode = %s; want an error for %s", out, e.Name)
					}
				})
			}
			if _, ok := base[e.Name]; !ok || e.Name == "messageType" || e.Name == "messageVersion" {
				continue
			}
			t.Run(fmt.Sprintf("%s/missing/%s", c, e.Name), func(t *testing.T) {
				if out, err := Encode(build(c, without(base, e.Name))); err == nil {
					t.Errorf("Encode = %s; want an error", out)
				}
			})
			if e.Type == String && e.Max > 0 {
				t.Run(fmt.Sprintf("%s/invalid/%s", c, e.Name), func(t *testing.T) {
					if out, err := Encode(build(c, with(base, e.Name, strings.Repeat("ü", e.Max+1)))); err == nil {
						t.Errorf("Encode = %.80s; want an error", out)
					}
				})
			}
		}
	}
	t.Run("no-table", func(t *testing.T) {
		if _, err := Encode(NewMessage(TypeOReq, V231)); err == nil {
			t.Error("Encode of an OReq (no table) succeeded")
		}
		if _, err := Encode(NewMessage(TypeARes, "2.0.0")); err == nil {
			t.Error("Encode of an unsupported version succeeded")
		}
	})
	t.Run("MustEncode-panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("MustEncode of an empty ARes did not panic")
			}
		}()
		MustEncode(NewMessage(TypeARes, V231))
	})
}

// TestErroCodesOfTheirVersion: every Erro the reader can produce, in every version, is a valid Erro of
// that version.
func TestErroCodesOfTheirVersion(t *testing.T) {
	codes := []string{ErrMessageInvalid, ErrVersionUnsupported, ErrRequiredMissing, ErrCriticalExtension, ErrFormat,
		ErrDuplicate, ErrReservedValue, ErrISOCode, ErrTransactionUnknown, ErrTransactionData, ErrTransactionStatus,
		ErrTimedOut, ErrTransientFailure}
	for _, v := range Versions {
		for _, code := range codes {
			t.Run(string(v)+"/"+code, func(t *testing.T) {
				e := NewErro(code, "acctNumber", v, TypeAReq)
				if want := erroCodeIn(v, code); e.ErrorCode != want {
					t.Errorf("NewErro(%s) in %s has code %s, want %s", code, v, e.ErrorCode, want)
				}
				_, e2 := Decode(EncodeErro(e), TypeErro, Context{})
				if e2 != nil {
					t.Fatalf("Erro %s of %s refused: %s %s", code, v, e2.ErrorCode, e2.ErrorDetail)
				}
			})
		}
	}
}

// ---------------------------------------------------------------------------------------------------
// The tables themselves.

// TestTables: every table's rows are well-formed.
func TestTables(t *testing.T) {
	for _, typ := range messageTypes {
		for _, v := range Versions {
			t.Run(string(v)+"/"+string(typ), func(t *testing.T) {
				tb, ok := TableOf(typ, v)
				if operationMessage(typ) && v != V231 {
					if ok {
						t.Errorf("%s table in %s, which has no operation messages", typ, v)
					}
					return
				}
				if !ok {
					t.Fatal("no table")
				}
				if tb.Type != typ || tb.Version != v || tb.Source == "" {
					t.Errorf("table header: type %s, version %s, source %q", tb.Type, tb.Version, tb.Source)
				}
				checkRows(t, tb, tb.Elements, "")
				for _, name := range []string{"messageType", "messageVersion"} {
					i := indexOf(tb.Elements, name)
					if i < 0 || tb.Elements[i].Inc != Required || tb.Elements[i].Ch != 0 || tb.Elements[i].Cat != 0 {
						t.Errorf("%s is not a required row for every channel and category", name)
					}
				}
				if i := indexOf(tb.Elements, "messageType"); i >= 0 {
					if e := tb.Elements[i]; e.Values == nil || e.Values.OK != string(typ) {
						t.Errorf("messageType accepts %+v, want only %s", e.Values, typ)
					}
				}
				if !tb.Defines("messageType", 0) || tb.Defines("noSuchElement", 0) {
					t.Error("Defines")
				}
				if typ == TypeAReq {
					inc := map[string]map[Inclusion]bool{}
					var collect func(rows []Element)
					collect = func(rows []Element) {
						for _, e := range rows {
							if inc[e.Name] == nil {
								inc[e.Name] = map[Inclusion]bool{}
							}
							inc[e.Name][e.Inc] = true
							collect(e.Sub)
						}
					}
					collect(tb.Elements)
					for name, set := range inc {
						if set[Conditional] && set[Required] {
							t.Errorf("%s is Conditional in one row and Required in another", name)
						}
					}
				}
			})
		}
	}
}

func checkRows(t *testing.T, tb Table, rows []Element, prefix string) {
	t.Helper()
	seen := map[string]bool{}
	for i := range rows {
		e := &rows[i]
		name := prefix + e.Name
		errorf := func(format string, args ...any) { t.Errorf(name+": "+format, args...) }
		if e.Name == "" || strings.ContainsAny(e.Name, " .,") {
			errorf("bad name")
		}
		if seen[e.Name] {
			errorf("appears twice")
		}
		seen[e.Name] = true
		if e.Ref == "" {
			errorf("no Ref")
		} else if tb.Version == V231 && !strings.Contains(e.Ref, "2.3.1") {
			errorf("Ref %q of a 2.3.1 row does not cite 2.3.1", e.Ref)
		} else if !strings.Contains(e.Ref, "2.1.0") && !strings.Contains(e.Ref, "2.2.0") && !strings.Contains(e.Ref, "2.3.1") {
			errorf("Ref %q names no version", e.Ref)
		}
		if e.Inc == Absent || e.Inc > Optional {
			errorf("inclusion %d", e.Inc)
		}
		if (e.Need != nil || e.Only != nil) && e.Inc != Conditional {
			errorf("Need or Only on a row that is not Conditional")
		}
		if e.Ch&^AnyChannel != 0 || e.Cat&^AnyCategory != 0 {
			errorf("channel %b, category %b", e.Ch, e.Cat)
		}
		if e.Min < 0 || e.Max < 0 || (e.Max > 0 && e.Min > e.Max) {
			errorf("length %d-%d", e.Min, e.Max)
		}
		if e.Format > Language {
			errorf("format %d", e.Format)
		}
		switch e.Type {
		case String:
			if e.Item != nil || e.Sub != nil {
				errorf("a string with Item or Sub")
			}
			checkValues(t, name, e)
		case StringArray:
			if e.Item == nil {
				errorf("an array of strings without Item")
				break
			}
			if e.Format != Any || e.Values != nil || e.Sub != nil {
				errorf("an array with Format, Values or Sub (they belong to Item)")
			}
			it := e.Item
			if it.Type != String || it.Item != nil || it.Sub != nil || it.Min < 0 || it.Max < 0 || (it.Max > 0 && it.Min > it.Max) {
				errorf("Item %+v", *it)
			}
			checkValues(t, name+"[]", it)
		case Object, ObjectArray:
			if e.Item != nil || e.Format != Any || e.Values != nil {
				errorf("an object with Item, Format or Values")
			}
			if e.Type == Object && e.Min != 0 {
				errorf("an object with a minimum length")
			}
			if e.Sub != nil {
				if len(e.Sub) == 0 {
					errorf("empty Sub")
				}
				checkRows(t, tb, e.Sub, name+".")
			}
		case Boolean:
			if e.Min != 0 || e.Max != 0 || e.Format != Any || e.Values != nil || e.Item != nil || e.Sub != nil {
				errorf("a boolean with length, format, values, Item or Sub")
			}
		default:
			errorf("type %d", e.Type)
		}
	}
}

// checkValues: each list parses, each accepted value fits the row, the three lists do not overlap,
// and a two-digit enumeration with EMVCo and DS ranges covers 01-99.
func checkValues(t *testing.T, name string, e *Element) {
	t.Helper()
	if e.Values == nil {
		return
	}
	if e.Values.OK == "" {
		t.Errorf("%s: an enumeration without accepted values", name)
	}
	lists := map[string]string{"OK": e.Values.OK, "EMVCo": e.Values.EMVCo, "DS": e.Values.DS}
	owner := map[string]string{}
	for _, which := range []string{"OK", "EMVCo", "DS"} {
		if _, err := parseEnum(lists[which]); err != nil {
			t.Errorf("%s: %s list %q: %v", name, which, lists[which], err)
			continue
		}
		for _, v := range enumValues(lists[which]) {
			if !fits(e, v) {
				t.Errorf("%s: %s value %q does not fit length %d-%d / format %d", name, which, v, e.Min, e.Max, e.Format)
			}
			if prev, dup := owner[v]; dup {
				t.Errorf("%s: %q is in the %s list and the %s list", name, v, prev, which)
			}
			owner[v] = which
		}
	}
	if e.Values.EMVCo != "" && e.Values.DS != "" && e.Min == 2 && e.Max == 2 {
		for n := 1; n <= 99; n++ {
			if v := fmt.Sprintf("%02d", n); owner[v] == "" {
				t.Errorf("%s: %s is in no list (accepted, EMVCo or DS)", name, v)
			}
		}
	}
}

// TestEncodeCheckIsDecode: Encode's check of the values as written (check) refuses exactly what Decode
// refuses of the JSON written (the validations of Annex A.2: 201, 203, 204 with A.16's repeated
// entries, 207, 304, 202), with the same code and detail: for every table's valid message, with
// each element left out, and with each element given values of every kind (too long, empty list, a
// repeated list entry, another type, an object, invalid UTF-8, null).
func TestEncodeCheckIsDecode(t *testing.T) {
	kinds := func(e *Element) []any {
		vs := []any{"x", "0", "Y", strings.Repeat("ü", max(e.Max, 1)+1), "a\\nb", "\\xff\\xfe", 7, true, false,
			[]string{}, []string{"01"}, []string{"01", "01"}, []string{""}, json.RawMessage(`null`),
			json.RawMessage(`{"a":1}`), json.RawMessage(`[{"a":1}]`), json.RawMessage(`[{"a":1},{"a":1}]`)}
		return append(vs, "a\nb", "\xff\xfe")
	}
	n, refused := 0, 0
	for _, c := range allCases(t) {
		base := validMessage(t, c.table, c.ch, c.cat)
		var variants []*Message
		variants = append(variants, build(c, base))
		for i := range c.table.Elements {
			e := &c.table.Elements[i]
			variants = append(variants, build(c, without(base, e.Name)))
			for _, v := range kinds(e) {
				m := build(c, base)
				m.Set(e.Name, v)
				variants = append(variants, m)
			}
		}
		for _, m := range variants {
			out, err := write(m, &c.table)
			if err != nil {
				continue // refused before any check, the same for both
			}
			n++
			want := "accepted"
			if len(out) > MaxMessageSize || !utf8.Valid(out) {
				continue
			}
			if _, e := Decode(out, m.Type, Context{Channel: m.Channel, Category: m.Category}); e != nil {
				want = e.ErrorCode + " " + e.ErrorDetail
			}
			got := "accepted"
			if e := check(m, &c.table); e != nil {
				got = e.ErrorCode + " " + e.ErrorDetail
			}
			if got != want {
				t.Fatalf("%s: check says %q, Decode of %s says %q", c, got, out, want)
			}
			if got != "accepted" {
				refused++
			}
		}
	}
	if n < 1000 || refused < n/4 || refused == n {
		t.Fatalf("%d messages compared, %d refused", n, refused)
	}
	t.Logf("%d messages compared, %d refused", n, refused)
}
