//go:build linux

package netfilter

// Crash closes the socket b sends its batches on, and that owns its table,
// without deleting anything: what the kernel sees of a daemon that exits
// or is killed. b is not usable for changes afterwards; Close it.
func (b *Backend) Crash() {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	b.dropWriter()
}

// ParseVerdict decodes the data of a verdict map's element as
// google/nftables returns it in SetElement.Val (the attributes of its
// NFTA_DATA_VERDICT), which that library does not decode.
var ParseVerdict = parseVerdict

// Release closes the socket w sends its batches on without deleting
// anything, as a daemon that is killed does. w is not usable for changes
// afterwards but Close.
func (w *Windows) Release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropConnLocked()
}
