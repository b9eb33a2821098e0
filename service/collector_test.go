package service

import (
	"strings"
	"testing"
)

func TestIdleCollector(t *testing.T) {
	var calls []string
	c := &idleCollector{
		collecting:   true,
		setGCPercent: func(p int) int { calls = append(calls, map[int]string{-1: "off", gcPercent: "on"}[p]); return 0 },
		freeOSMemory: func() { calls = append(calls, "free") },
	}
	c.busy() // already collecting: nothing to do
	c.quiet()
	c.busy()
	c.busy()
	c.quiet()
	if got := strings.Join(calls, " "); got != "free off on free off" {
		t.Fatalf("calls %q", got)
	}
}
