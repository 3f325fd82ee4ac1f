package main

import (
	"math"
	"os"
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	// A name with spaces and both parentheses: only the last ')' ends it.
	line := "4242 (my (odd) srv) name)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 731 215 0 0 20 0 9 0 12345 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	u, s, err := parseProcStat(line)
	if err != nil || u != 731 || s != 215 {
		t.Fatalf("parseProcStat = %d, %d, %v; want 731, 215", u, s, err)
	}
	for _, bad := range []string{"", "4242 no parens S 1 2", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 seven 215 0"} {
		if _, _, err := parseProcStat(bad); err == nil || !strings.Contains(err.Error(), "parse /proc stat") {
			t.Errorf("parseProcStat(%q): %v, want a parse error", bad, err)
		}
	}
}

func TestCPUTicksOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := cpuTicks([]int{os.Getpid(), os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	if _, err := cpuTicks([]int{1 << 30}); err == nil || !strings.Contains(err.Error(), "pid 1073741824") {
		t.Fatalf("a missing pid: %v, want an error naming it", err)
	}
}

func TestNewCPU(t *testing.T) {
	c := newCPU([]int{1}, 250, 1000, 2) // 2.5 s of CPU in 2 s for 1000 requests
	if c.CPUms != 2500 || c.CPUmsPerRequest != 2.5 || math.Abs(c.Cores-1.25) > 1e-9 || c.TicksPerSecond != 100 {
		t.Fatalf("newCPU = %+v", c)
	}
	if z := newCPU(nil, 0, 0, 0); z.CPUmsPerRequest != 0 || z.Cores != 0 {
		t.Fatalf("no requests, no time: %+v", z)
	}
}

func TestParsePIDs(t *testing.T) {
	if got, err := parsePIDs(" 12, 34 "); err != nil || len(got) != 2 || got[0] != 12 || got[1] != 34 {
		t.Fatalf("parsePIDs = %v, %v", got, err)
	}
	for _, bad := range []string{"x", "12,", "-3", "0"} {
		if _, err := parsePIDs(bad); err == nil {
			t.Errorf("parsePIDs(%q): no error", bad)
		}
	}
}
