package cards

import "strings"

// ParseForTest runs the file parser over a whole file without a database (for the fuzz test): the
// ImportError of its problems, or nil.
func ParseForTest(body string) error {
	p, err := newParser(strings.NewReader(body))
	if err != nil {
		return err
	}
	for {
		_, ok, err := p.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
	}
	if p.failed() {
		return &p.ie
	}
	return nil
}
