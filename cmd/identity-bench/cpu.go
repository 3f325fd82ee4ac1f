package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// what sysconf(_SC_CLK_TCK) returns. Linux fixes it at 100 on every
// architecture, whatever the kernel's CONFIG_HZ, so it is a constant here
// rather than a cgo call.
const clockTicks = 100

// CPU is the processor time the measured processes spent during a run.
type CPU struct {
	PIDs            []int   `json:"pids"`
	TicksPerSecond  int     `json:"ticks_per_second"`
	CPUms           float64 `json:"cpu_ms"`             // utime+stime, all PIDs
	CPUmsPerRequest float64 `json:"cpu_ms_per_request"` // over the counted requests
	Cores           float64 `json:"cores"`              // cpu time / wall time: average cores busy
}

// parseProcStat returns utime and stime (fields 14 and 15, in clock ticks)
// of a /proc/PID/stat line. The process name (field 2) is in parentheses and
// may itself hold spaces and parentheses, so the fields are counted from the
// last ')'.
func parseProcStat(line string) (utime, stime uint64, err error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 || strings.IndexByte(line, '(') < 0 {
		return 0, 0, fmt.Errorf("parse /proc stat: no (comm) in %.40q", line)
	}
	f := strings.Fields(line[end+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("parse /proc stat: %d fields after the name, want at least 13", len(f))
	}
	if utime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("parse /proc stat utime: %w", err)
	}
	if stime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("parse /proc stat stime: %w", err)
	}
	return utime, stime, nil
}

// cpuTicks sums utime+stime over the processes (every thread of each; not
// their children: give a database's backend PIDs, not only its postmaster).
func cpuTicks(pids []int) (uint64, error) {
	var sum uint64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, fmt.Errorf("read CPU time of pid %d: %w", pid, err)
		}
		u, s, err := parseProcStat(string(b))
		if err != nil {
			return 0, fmt.Errorf("pid %d: %w", pid, err)
		}
		sum += u + s
	}
	return sum, nil
}

// newCPU turns a tick difference into the report.
func newCPU(pids []int, ticks uint64, requests int64, seconds float64) *CPU {
	c := &CPU{PIDs: pids, TicksPerSecond: clockTicks, CPUms: float64(ticks) * 1000 / clockTicks}
	if requests > 0 {
		c.CPUmsPerRequest = c.CPUms / float64(requests)
	}
	if seconds > 0 {
		c.Cores = c.CPUms / 1000 / seconds
	}
	return c
}
