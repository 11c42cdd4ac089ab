// Package buildinfo says which build is running: the version and commit
// stamped at link time by the Makefile and the Dockerfile, or else what
// the Go toolchain recorded in the binary. It must never change these
// values at run time: logs, metrics and `tiercel version` must agree.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Stamped with -ldflags "-X github.com/tiercel/tiercel/internal/buildinfo.version=v1.2.3
// -X github.com/tiercel/tiercel/internal/buildinfo.revision=<commit>".
// Variables, not constants: the linker can only set variables.
var (
	version  string
	revision string
)

// Info identifies a build.
type Info struct {
	// Version is the release (git describe), the module version of a
	// `go install …@v1.2.3`, or "devel".
	Version string
	// Revision is the commit, "-dirty" appended when the tree had
	// changes, or "unknown".
	Revision  string
	GoVersion string
}

// Get reads the stamped values, falling back to debug.ReadBuildInfo
// (vcs.revision, the main module's version) for a plain `go build`.
func Get() Info {
	bi := Info{Version: version, Revision: revision, GoVersion: runtime.Version()}
	if d, ok := debug.ReadBuildInfo(); ok {
		if bi.Version == "" && d.Main.Version != "" && d.Main.Version != "(devel)" {
			bi.Version = d.Main.Version
		}
		if bi.Revision == "" {
			bi.Revision = vcsRevision(d.Settings)
		}
	}
	if bi.Version == "" {
		bi.Version = "devel"
	}
	if bi.Revision == "" {
		bi.Revision = "unknown"
	}
	return bi
}

func vcsRevision(settings []debug.BuildSetting) string {
	rev, dirty := "", false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	return rev
}

// String is the line `tiercel version` prints.
func (i Info) String() string {
	return "tiercel " + i.Version + " (revision " + i.Revision + ", " + i.GoVersion + ")"
}
