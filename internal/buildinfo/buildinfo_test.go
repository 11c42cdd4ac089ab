package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestVCSRevision(t *testing.T) {
	f := func(want string, kv ...string) {
		t.Helper()
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		if got := vcsRevision(s); got != want {
			t.Fatalf("vcsRevision(%v) = %q, want %q", kv, got, want)
		}
	}
	f("")
	f("abc123", "vcs.revision", "abc123", "vcs.modified", "false")
	f("abc123-dirty", "vcs.revision", "abc123", "vcs.modified", "true")
	f("", "vcs.modified", "true")
}

func TestGetStampedWins(t *testing.T) {
	defer func(v, r string) { version, revision = v, r }(version, revision)
	version, revision = "v1.2.3", "deadbeef"
	if got := Get(); got.Version != "v1.2.3" || got.Revision != "deadbeef" || got.GoVersion != runtime.Version() {
		t.Fatalf("%+v", got)
	}
	version, revision = "", ""
	if got := Get(); got.Version == "" || got.Revision == "" {
		t.Fatalf("no fallback: %+v", got)
	}
}
