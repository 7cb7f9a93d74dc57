package hsm

// DropSession closes the current login behind the HSM's back, as a token removed and put back or a
// restarted HSM does to its sessions and handles.
func (h *HSM) DropSession() { _ = h.k.Load().ctx.Close() }
