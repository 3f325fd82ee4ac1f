// Package buildinfo is what the binary knows of its own build: the version,
// commit and date stamped by the linker
//
//	go build -ldflags "-X github.com/identityd/identityd/internal/buildinfo.Version=v1.2.3 \
//	  -X github.com/identityd/identityd/internal/buildinfo.Commit=abc1234 \
//	  -X github.com/identityd/identityd/internal/buildinfo.Date=2026-12-02T10:00:00Z"
//
// (scripts/build.sh and the Dockerfile do this), and otherwise what the Go
// toolchain recorded: the module version of `go install …@v1.2.3`, and the
// VCS revision and time of a build from a checkout.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by the linker (-X); empty when the build did not stamp them.
var (
	Version string
	Commit  string
	Date    string
)

// Info is the build's identity, as `identityd version` prints it.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"go_version"`
	// Modified: built from a checkout with uncommitted changes.
	Modified bool `json:"modified,omitempty"`
}

// Get returns the stamped values, filling what is missing from the
// toolchain's build information; Version is "dev" when nothing is known.
func Get() Info {
	in := Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "vcs.time":
				if in.Date == "" {
					in.Date = s.Value
				}
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	if in.Version == "" {
		in.Version = "dev"
	}
	return in
}
