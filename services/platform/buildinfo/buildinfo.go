// Package buildinfo carries the version stamped into binaries at build time
// (-ldflags "-X .../buildinfo.Version=v1.2.3").
package buildinfo

import "runtime/debug"

// Version is set by the build; "dev" for a plain `go build`.
var Version = "dev"

// String returns the version with the VCS revision when the binary knows it.
func String() string {
	v := Version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}
