package acs

// StoredByRead reports whether the AReq's read stored its transaction (issue 13: one statement).
func (d *Decision) StoredByRead() bool { return d.storedByRead }
