package server

// defaultMemoryBudget is Config.MemoryBudget's default: three quarters of
// the memory the machine (or the container) has, leaving room for the
// system, the page cache and the server itself; -1 (unlimited) where that
// is unknown.
func defaultMemoryBudget() int64 {
	total, ok := physicalMemory()
	if !ok || total <= 0 {
		return -1
	}
	return total / 4 * 3
}
