package emv

import "encoding/json"

// Message is a decoded EMV message: its type, version, channel and category, and its elements by name.
// Values are string, []string, bool, or json.RawMessage (objects and arrays of objects).
type Message struct {
	Type     MessageType
	Version  Version
	Channel  Channel  // for messages that carry deviceChannel (AReq, ARes, RReq); 0 otherwise
	Category Category // for messages that carry messageCategory; 0 otherwise
	values   map[string]any
	order    []string
	// extra holds the members the version's table does not define for this message: they are ignored
	// (Req 209), but a caller may look at them (a browser CReq must not try to change the amount).
	extra map[string]json.RawMessage
}

// Extra returns a member the table does not define, as received (nil when absent).
func (m *Message) Extra(name string) json.RawMessage { return m.extra[name] }

// NewMessage returns an empty message to be filled with Set and written with Encode.
func NewMessage(t MessageType, v Version) *Message {
	return &Message{Type: t, Version: v, values: map[string]any{}}
}

// Has reports whether the element is present.
func (m *Message) Has(name string) bool { _, ok := m.values[name]; return ok }

// Str returns a string element ("" when absent or not a string).
func (m *Message) Str(name string) string { s, _ := m.values[name].(string); return s }

// Strs returns a string-array element, or a string element as a one-item list (nil when absent).
func (m *Message) Strs(name string) []string {
	switch v := m.values[name].(type) {
	case []string:
		return v
	case string:
		return []string{v}
	}
	return nil
}

// Bool returns a boolean element and whether it is present as a boolean.
func (m *Message) Bool(name string) (value, ok bool) { value, ok = m.values[name].(bool); return }

// Raw returns an object or array-of-objects element as its JSON text (nil when absent).
func (m *Message) Raw(name string) json.RawMessage {
	r, _ := m.values[name].(json.RawMessage)
	return r
}

// Names lists the elements present, in the order they were read or set.
func (m *Message) Names() []string { return m.order }

// Set sets an element (string, []string, bool, or json.RawMessage). An empty string or nil removes it:
// an element without a value is absent (Annex A.1).
func (m *Message) Set(name string, v any) {
	switch x := v.(type) {
	case string:
		if x == "" {
			m.Del(name)
			return
		}
	case []string:
		if len(x) == 0 {
			m.Del(name)
			return
		}
	case json.RawMessage:
		if len(x) == 0 {
			m.Del(name)
			return
		}
	case nil:
		m.Del(name)
		return
	}
	if _, ok := m.values[name]; !ok {
		m.order = append(m.order, name)
	}
	m.values[name] = v
}

// Del removes an element.
func (m *Message) Del(name string) {
	if _, ok := m.values[name]; !ok {
		return
	}
	delete(m.values, name)
	for i, n := range m.order {
		if n == name {
			m.order = append(m.order[:i], m.order[i+1:]...)
			break
		}
	}
}

// Conditions used by the tables. Each reads the elements of the message as decoded so far; the reader
// decodes every element before it checks inclusion, so a condition may name any element.

// Eq holds when the element has one of the values (a string, or any item of a string array).
func Eq(name string, values ...string) Cond {
	return func(m *Message) bool {
		for _, have := range m.Strs(name) {
			for _, v := range values {
				if have == v {
					return true
				}
			}
		}
		return false
	}
}

// Present holds when the element is present.
func Present(name string) Cond { return func(m *Message) bool { return m.Has(name) } }

// IsTrue holds when the boolean element is present and true.
func IsTrue(name string) Cond { return func(m *Message) bool { v, _ := m.Bool(name); return v } }

// Not negates c.
func Not(c Cond) Cond { return func(m *Message) bool { return !c(m) } }

// And holds when all hold.
func And(cs ...Cond) Cond {
	return func(m *Message) bool {
		for _, c := range cs {
			if !c(m) {
				return false
			}
		}
		return true
	}
}

// Or holds when any holds.
func Or(cs ...Cond) Cond {
	return func(m *Message) bool {
		for _, c := range cs {
			if c(m) {
				return true
			}
		}
		return false
	}
}

// OnChannel holds for messages of the device channels ch.
func OnChannel(ch Channel) Cond { return func(m *Message) bool { return m.Channel&ch != 0 } }

// OnCategory holds for messages of the categories cat.
func OnCategory(cat Category) Cond { return func(m *Message) bool { return m.Category&cat != 0 } }
