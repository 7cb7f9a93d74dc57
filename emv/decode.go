package emv

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// MaxMessageSize bounds what is read of one message. Annex A's largest elements (acsHTML at 300000
// characters in an app CRes, deviceInfo at 64000, messageExtension at 81920 in all) fit; anything
// beyond is not an EMV message.
const MaxMessageSize = 512 << 10

// Context is what a message cannot say about itself but its checks need: for messages other than the
// AReq, the device channel and category of the transaction they belong to.
type Context struct {
	Channel  Channel
	Category Category
	// Version, for messages of a transaction, is the version the AReq fixed; a message of another
	// version is refused with 203 messageVersion (a CReq cannot switch versions mid-transaction).
	Version Version
	// Extensions lists the message extension ids this component recognises; a critical one not in it
	// is Erro 202.
	Extensions []string
}

// Decode reads a message of type want from body and checks it against its version's table. A problem
// is returned as an *Erro (component A) with the message's ids echoed as received and the offending
// elements named in errorDetail, never their values. The order of checks follows Annex A: the message
// must be JSON of the expected type (101) and of a supported version (102); then duplicates (204),
// missing elements (201), formats (203), reserved values (207), ISO codes (304), critical extensions
// (202).
func Decode(body []byte, want MessageType, ctx Context) (*Message, *Erro) {
	// errorMessageType names the erroneous message only where its type could be recognised (Annex A).
	unrecognised := func(detail string, m *Message) *Erro {
		e := NewErro(ErrMessageInvalid, detail, ctx.Version, want).Echo(m)
		e.ErrorMessageType = ""
		return e
	}
	if len(body) > MaxMessageSize || !utf8.Valid(body) {
		return nil, unrecognised("Invalid Formatted Message", nil)
	}
	raw, keys, dup, err := object(body)
	if err != nil {
		return nil, unrecognised("Invalid Formatted Message", nil)
	}
	m := &Message{Type: want, values: make(map[string]any, len(keys))}
	// The ids are read first (as plain strings, into a message of their own) so that every Erro below
	// can echo them.
	ids := &Message{values: map[string]any{}}
	for _, id := range []string{"threeDSServerTransID", "acsTransID", "dsTransID", "sdkTransID"} {
		if r, ok := raw[id]; ok {
			var s string
			if json.Unmarshal(r, &s) == nil && s != "" {
				ids.values[id] = s
			}
		}
	}
	var mt string
	if r, ok := raw["messageType"]; !ok || json.Unmarshal(r, &mt) != nil || MessageType(mt) != want {
		return nil, unrecognised("Invalid Message Type", ids)
	}
	var v string
	r, ok := raw["messageVersion"]
	if ok && json.Unmarshal(r, &v) != nil {
		return nil, NewErro(ErrFormat, "messageVersion", ctx.Version, want).Echo(ids)
	}
	if v == "" {
		return nil, NewErro(ErrRequiredMissing, "messageVersion", ctx.Version, want).Echo(ids)
	}
	if !Supported(v) {
		return nil, NewErro(ErrVersionUnsupported, versionList(), ctx.Version, want).Echo(ids)
	}
	m.Version = Version(v)
	if ctx.Version != "" && m.Version != ctx.Version {
		return nil, NewErro(ErrFormat, "messageVersion", ctx.Version, want).Echo(ids)
	}
	t, ok := tableOf(want, m.Version)
	if !ok {
		e := NewErro(ErrMessageInvalid, "Invalid Message Type", m.Version, want).Echo(ids)
		e.ErrorMessageType = "" // not a message type of this version
		return nil, e
	}
	if dup != "" {
		return nil, NewErro(ErrDuplicate, dup, m.Version, want).Echo(ids)
	}
	m.Channel, m.Category = ctx.Channel, ctx.Category
	if want == TypeAReq {
		// The AReq names its channel and category; everything else about its inclusion depends on them.
		m.Channel, m.Category = 0, 0
		if r, ok := raw["deviceChannel"]; ok {
			var s string
			_ = json.Unmarshal(r, &s)
			m.Channel = ChannelOf(s)
		}
		if r, ok := raw["messageCategory"]; ok {
			var s string
			_ = json.Unmarshal(r, &s)
			m.Category = CategoryOf(s)
		}
	}
	c := checker{m: m, ctx: ctx}
	c.elements(t.Elements, raw, "")
	for _, k := range keys {
		if i := indexOf(t.Elements, k); i < 0 || !c.applies(&t.Elements[i]) {
			if m.extra == nil {
				m.extra = map[string]json.RawMessage{}
			}
			m.extra[k] = raw[k]
		}
	}
	if e := c.erro(ids, want, m.Version); e != nil {
		return nil, e
	}
	return m, nil
}

// object reads a JSON object once: each member's raw value, the keys in order, and the first key that
// appears twice (encoding/json would silently keep the last; EMV answers 204). The grammar is checked by
// json.Valid in one pass without allocating; the members are then cut out by a scanner that may assume
// valid JSON. This is the AReq's hot path: json.Decoder's token API cost about 16 % of an AReq's CPU.
func object(body []byte) (map[string]json.RawMessage, []string, string, error) {
	if !json.Valid(body) {
		return nil, nil, "", errors.New("not JSON")
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, nil, "", errors.New("not an object")
	}
	raw := make(map[string]json.RawMessage, 32) // an AReq has 30 to 60 members
	keys := make([]string, 0, 32)
	dup := ""
	i = skipSpace(body, i+1)
	if body[i] == '}' {
		return raw, keys, dup, nil
	}
	for {
		end := stringEnd(body, i)
		k, err := jsonString(body[i:end])
		if err != nil {
			return nil, nil, "", err
		}
		i = skipSpace(body, end)
		i = skipSpace(body, i+1) // the colon
		vEnd := valueEnd(body, i)
		if _, seen := raw[k]; seen {
			if dup == "" {
				dup = k
			}
		} else {
			raw[k] = body[i:vEnd:vEnd]
			keys = append(keys, k)
		}
		i = skipSpace(body, vEnd)
		if body[i] == '}' {
			return raw, keys, dup, nil
		}
		i = skipSpace(body, i+1) // the comma
	}
}

// TypeOf is the messageType of body, read without decoding the rest: what an endpoint that takes more
// than one kind of message dispatches on before Decode ("" where body is not a JSON object or names no
// type as a string, or is not UTF-8). Of two messageType members the first counts; Decode refuses the message (204).
// It costs half of encoding/json's Unmarshal into a struct of one field (BenchmarkTypeOf, 4.8 µs against
// 10.4 µs for the sample AReq), which the AReq endpoint paid before each AReq's decoding (issue 13).
func TypeOf(body []byte) MessageType {
	if !utf8.Valid(body) || !json.Valid(body) { // what Decode refuses first
		return ""
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return ""
	}
	i = skipSpace(body, i+1)
	for body[i] != '}' {
		end := stringEnd(body, i)
		k, err := jsonString(body[i:end])
		if err != nil {
			return ""
		}
		i = skipSpace(body, end)
		i = skipSpace(body, i+1) // the colon
		vEnd := valueEnd(body, i)
		if k == "messageType" {
			if body[i] != '"' {
				return ""
			}
			v, err := jsonString(body[i:vEnd])
			if err != nil {
				return ""
			}
			return MessageType(v)
		}
		i = skipSpace(body, vEnd)
		if body[i] == '}' {
			break
		}
		i = skipSpace(body, i+1) // the comma
	}
	return ""
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string literal starting at b[i] (a quote), in valid JSON.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd returns the index after the JSON value starting at b[i], in valid JSON.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	default: // a number, true, false or null
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		return i
	}
}

// jsonString decodes a JSON string literal; one without escapes (nearly every EMV value) is its bytes.
func jsonString(lit []byte) (string, error) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", errors.New("not a string")
	}
	if bytes.IndexByte(lit, '\\') < 0 {
		return string(lit[1 : len(lit)-1]), nil
	}
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err
}

// checker collects what is wrong with a message, by Erro code, in table order.
type checker struct {
	m        *Message
	ctx      Context
	missing  []string
	format   []string
	reserved []string
	iso      []string
	critical []string // ids of unrecognised critical extensions
	dups     []string // elements given twice, inside an object or as equal array entries
}

// erro is the Erro for the first kind of problem found, in the order of Decode's comment, naming every
// element with that kind of problem.
func (c *checker) erro(ids *Message, want MessageType, v Version) *Erro {
	for _, p := range []struct {
		code  string
		names []string
	}{{ErrDuplicate, c.dups}, {ErrRequiredMissing, c.missing}, {ErrFormat, c.format}, {ErrReservedValue, c.reserved},
		{ErrISOCode, c.iso}, {ErrCriticalExtension, c.critical}} {
		if len(p.names) > 0 {
			return NewErro(p.code, joinNames(p.names), v, want).Echo(ids)
		}
	}
	return nil
}

// applies reports whether the row belongs to the message's channel and category. Where the channel or
// category is unknown (missing or invalid in the AReq, which is then refused for that element), rows
// restricted to one are left out, so that the Erro names the real problem and not its consequences.
func (c *checker) applies(e *Element) bool {
	if e.Ch != 0 && e.Ch&c.m.Channel == 0 {
		return false
	}
	if e.Cat != 0 && e.Cat&c.m.Category == 0 {
		return false
	}
	return e.Inc != Absent
}

// elements decodes every row's value first (so that conditions may look at any element), then checks
// inclusion. prefix names sub-elements as parent.child in errorDetail. Members the table does not
// know are ignored: Annex A.2 allows only the validations it lists.
func (c *checker) elements(rows []Element, raw map[string]json.RawMessage, prefix string) {
	present := make([]bool, len(rows))
	for i := range rows {
		e := &rows[i]
		r, ok := raw[e.Name]
		if !ok || !c.applies(e) {
			continue
		}
		if isNull(r) || string(r) == `""` {
			// An element present without a value counts as missing (Annex A.1) where it is required;
			// elsewhere it is a value that meets no format.
			continue
		}
		present[i] = true
		v, ok := c.value(e, r, prefix)
		if ok && prefix == "" {
			c.m.Set(e.Name, v)
		}
	}
	c.inclusion(rows, present, func(name string) bool { _, ok := raw[name]; return ok }, prefix)
}

// inclusion checks which rows are missing, given without a value, or given where their condition
// excludes them; present says which were given with a value.
func (c *checker) inclusion(rows []Element, present []bool, has func(name string) bool, prefix string) {
	for i := range rows {
		e := &rows[i]
		if !c.applies(e) {
			continue
		}
		name := prefix + e.Name
		given := has(e.Name)
		required := e.Inc == Required || (e.Inc == Conditional && e.Need != nil && e.Need(c.m))
		switch {
		case !present[i] && required:
			c.missing = append(c.missing, name)
		case given && !present[i]:
			c.format = append(c.format, name) // empty string or null where the element is optional
		case present[i] && e.Only != nil && !e.Only(c.m):
			c.format = append(c.format, name) // present where its condition excludes it
		}
	}
}

func isNull(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }

// value decodes and checks one element's value, recording problems; it returns the decoded value.
func (c *checker) value(e *Element, r json.RawMessage, prefix string) (any, bool) {
	name := prefix + e.Name
	switch e.Type {
	case String:
		s, err := jsonString(r)
		if err != nil {
			c.format = append(c.format, name)
			return nil, false
		}
		return s, c.str(e, s, name)
	case StringArray:
		var list []string
		if json.Unmarshal(r, &list) != nil {
			c.format = append(c.format, name)
			return nil, false
		}
		return c.list(e, list, name)
	case Boolean:
		var b bool
		if json.Unmarshal(r, &b) != nil {
			c.format = append(c.format, name)
			return nil, false
		}
		return b, true
	case Object:
		obj, _, dup, err := object(r)
		if err != nil || (e.Max > 0 && utf8.RuneCount(r) > e.Max) {
			c.format = append(c.format, name)
			return nil, false
		}
		if dup != "" {
			c.dups = append(c.dups, name+"."+dup)
			return nil, false
		}
		if e.Sub != nil {
			c.elements(e.Sub, obj, name+".")
		}
		return json.RawMessage(r), true
	case ObjectArray:
		var items []json.RawMessage
		if json.Unmarshal(r, &items) != nil || !c.count(e, len(items)) {
			c.format = append(c.format, name)
			return nil, false
		}
		seen := map[string]bool{}
		for _, item := range items {
			obj, _, dup, err := object(item)
			if err != nil {
				c.format = append(c.format, name)
				return nil, false
			}
			if dup != "" {
				c.dups = append(c.dups, name+"."+dup)
				return nil, false
			}
			var canon bytes.Buffer
			if json.Compact(&canon, item) == nil && seen[canon.String()] {
				c.dups = append(c.dups, name) // identical entries (Annex A.16)
				return nil, false
			}
			seen[canon.String()] = true
			if e.Sub != nil {
				c.elements(e.Sub, obj, name+".")
			}
			if e.Name == "messageExtension" {
				c.extension(obj)
			}
		}
		return json.RawMessage(r), true
	}
	return nil, false
}

// list checks a string array's length, its entries' repeats (a duplicate, Annex A.16) and each entry
// as a string of the element's item.
func (c *checker) list(e *Element, list []string, name string) (any, bool) {
	if !c.count(e, len(list)) {
		c.format = append(c.format, name)
		return nil, false
	}
	if hasRepeat(list) {
		c.dups = append(c.dups, name)
		return nil, false
	}
	item := e.Item
	if item == nil {
		item = &Element{}
	}
	ok := true
	for _, s := range list {
		if s == "" {
			c.format = append(c.format, name)
			return nil, false
		}
		ok = c.str(item, s, name) && ok
	}
	return list, ok
}

func (c *checker) count(e *Element, n int) bool {
	return n > 0 && (e.Min == 0 || n >= e.Min) && (e.Max == 0 || n <= e.Max)
}

// str checks a string's length in characters, format and values.
func (c *checker) str(e *Element, s, name string) bool {
	n := utf8.RuneCountInString(s)
	if (e.Min > 0 && n < e.Min) || (e.Max > 0 && n > e.Max) || !formatOK(e.Format, s) || hasControl(s, e.Lines) {
		c.format = append(c.format, name)
		return false
	}
	switch e.Format {
	case CurrencyCode:
		if !knownCurrency(s) {
			c.iso = append(c.iso, name)
			return false
		}
	case CountryCode:
		if !knownCountry(s) {
			c.iso = append(c.iso, name)
			return false
		}
	}
	if e.Values != nil {
		switch e.Values.classify(s) {
		case valueOK:
		case valueReserved:
			c.reserved = append(c.reserved, name)
			return false
		default:
			c.format = append(c.format, name)
			return false
		}
	}
	return true
}

// extension applies Annex A's rule for message extensions: one marked critical that this component
// does not recognise makes the message unusable (Erro 202 naming its id); others are ignored.
func (c *checker) extension(obj map[string]json.RawMessage) {
	var critical bool
	if json.Unmarshal(obj["criticalityIndicator"], &critical) != nil || !critical {
		return
	}
	var id string
	_ = json.Unmarshal(obj["id"], &id)
	for _, known := range c.ctx.Extensions {
		if known == id {
			return
		}
	}
	if id == "" {
		id = "messageExtension"
	}
	c.critical = append(c.critical, strings.TrimSpace(id)) // Table A.4: every such id, comma-separated
}

// hasControl reports whether s holds a control character (C0, DEL, C1). No EMV element's value has one:
// a NUL or line break in a merchant name would otherwise reach the SMS text, headers and the database
// (issue 12); such a value does not meet its element's format (203).
func hasControl(s string, lines bool) bool {
	for _, r := range s {
		if r == '\n' && lines {
			continue
		}
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}

// hasRepeat reports whether a list holds a value twice.
func hasRepeat(list []string) bool {
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		if seen[s] {
			return true
		}
		seen[s] = true
	}
	return false
}

// check applies Decode's checks to the message m as Encode writes it, reading its values as they are
// instead of reading the JSON back (issue 13: the read-back was 5.6 % of the service's CPU per AReq, for
// the ARes). Strings, string lists and booleans are checked as Decode checks what it decoded; any other
// value (objects, a string that is not valid UTF-8, a value of another type) goes through JSON, as the
// peer would read it. TestEncodeCheckIsDecode holds the two to the same verdicts.
func check(m *Message, t *Table) *Erro {
	c := checker{m: &Message{Type: m.Type, Version: m.Version, Channel: m.Channel, Category: m.Category,
		values: make(map[string]any, len(m.values))}, ctx: Context{Channel: m.Channel, Category: m.Category}}
	if m.Type == TypeAReq { // as Decode: the AReq names its own channel and category
		c.m.Channel, c.m.Category = ChannelOf(m.Str("deviceChannel")), CategoryOf(m.Str("messageCategory"))
	}
	// The type and version are written from m's fields, whatever its values say.
	value := func(name string) (any, bool) {
		switch name {
		case "messageType":
			return string(m.Type), true
		case "messageVersion":
			return string(m.Version), true
		}
		v, ok := m.values[name]
		return v, ok
	}
	rows := t.Elements
	present := make([]bool, len(rows))
	for i := range rows {
		e := &rows[i]
		v, ok := value(e.Name)
		if !ok || !c.applies(e) {
			continue
		}
		if v, ok, done := c.native(e, v); done {
			present[i] = true
			if ok {
				c.m.Set(e.Name, v)
			}
			continue
		}
		var buf bytes.Buffer
		writeJSON(&buf, v)
		r := json.RawMessage(buf.Bytes())
		if isNull(r) || string(r) == `""` {
			continue
		}
		present[i] = true
		if v, ok := c.value(e, r, ""); ok {
			c.m.Set(e.Name, v)
		}
	}
	c.inclusion(rows, present, func(name string) bool { _, ok := value(name); return ok }, "")
	return c.erro(m, m.Type, m.Version)
}

// native checks a string, string list or boolean value as value checks it decoded (done false: v is of
// another kind, to be checked as JSON).
func (c *checker) native(e *Element, v any) (out any, ok, done bool) {
	name := e.Name
	switch e.Type {
	case String:
		s, is := v.(string)
		if !is || !utf8.ValidString(s) {
			return nil, false, false
		}
		return s, c.str(e, s, name), true
	case StringArray:
		list, is := v.([]string)
		if !is {
			return nil, false, false
		}
		for _, s := range list {
			if !utf8.ValidString(s) {
				return nil, false, false
			}
		}
		out, ok := c.list(e, list, name)
		return out, ok, true
	case Boolean:
		b, is := v.(bool)
		return b, is, is
	}
	return nil, false, false
}
