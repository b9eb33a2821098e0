package service

import "runtime/debug"

// idleCollector switches the garbage collector with the shim's activity
// (see serveDaemon): on while requests and exits come in, one collection
// that returns the freed pages once they stop, then off.
type idleCollector struct {
	collecting   bool
	setGCPercent func(int) int
	freeOSMemory func()
}

func newIdleCollector() *idleCollector {
	return &idleCollector{collecting: true, setGCPercent: debug.SetGCPercent, freeOSMemory: debug.FreeOSMemory}
}

// busy turns the collector back on before work allocates.
func (c *idleCollector) busy() {
	if !c.collecting {
		c.setGCPercent(gcPercent)
		c.collecting = true
	}
}

// quiet collects, gives the freed pages back and turns the collector off.
func (c *idleCollector) quiet() {
	c.freeOSMemory()
	c.setGCPercent(-1)
	c.collecting = false
}
