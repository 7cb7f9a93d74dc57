package emv

// tableOf returns the element table of a message type in a version.
func tableOf(t MessageType, v Version) (Table, bool) {
	var m map[Version]Table
	switch t {
	case TypeAReq:
		m = AReqTables
	case TypeARes:
		m = AResTables
	case TypeCReq:
		m = CReqTables
	case TypeCRes:
		m = CResTables
	case TypeRReq:
		m = RReqTables
	case TypeRRes:
		m = RResTables
	case TypeErro:
		m = ErroTables
	case TypeOReq:
		m = OReqTables
	case TypeORes:
		m = OResTables
	}
	tb, ok := m[v]
	return tb, ok
}

// TableOf returns the element table of a message type in a version, for tests and tools that check
// messages against the specification.
func TableOf(t MessageType, v Version) (Table, bool) { return tableOf(t, v) }

// Defines reports whether the table has the element for a message of device channel ch (0: any).
func (t Table) Defines(name string, ch Channel) bool {
	i := indexOf(t.Elements, name)
	if i < 0 || t.Elements[i].Inc == Absent {
		return false
	}
	return ch == 0 || t.Elements[i].Ch == 0 || t.Elements[i].Ch&ch != 0
}
