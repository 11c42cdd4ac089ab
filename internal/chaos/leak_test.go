package chaos

import (
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

// checkGoroutines fails t if, once every subtest has cleaned up, more
// goroutines run than before it started: a process, server, proxy or load
// left behind.
func checkGoroutines(t *testing.T) {
	base := len(goroutines())
	t.Cleanup(func() {
		var left []string
		if !testwait.Until(15*time.Second, func() bool { left = goroutines(); return len(left) <= base }) {
			t.Errorf("%d goroutines left behind:\n%s", len(left)-base, strings.Join(left, "\n\n"))
		}
	})
}

// processGoroutines mark goroutines that live as long as the process by
// design: fasthttp's Date header clock, started by the first server, and
// the address cache cleaner of its default dialer, by the first client.
// fasthttp's idle-worker cleaner of a server and idle-connection cleaner of
// a client sleep up to 10s before they notice they were stopped and exit;
// the servers and clients themselves have gone, and their other goroutines
// are counted.
//
// toxiproxy v2.5.0 can leave one of a closed link's stubs blocked for good
// sending a chunk to the stub of a toxic that was just removed (its
// ToxicStub.Run in "chan send"); it holds nothing of ours and is not
// counted either.
var processGoroutines = []string{"fasthttp.updateServerDate", "fasthttp.(*TCPDialer).startTCPAddrsClean",
	"fasthttp.(*workerPool).Start.func2", "fasthttp.(*HostClient).connsCleaner",
	"toxiproxy/v2/toxics.(*ToxicStub).Run"}

// goroutines returns the stacks of the running goroutines but this one and
// the process-wide ones.
func goroutines() []string {
	buf := make([]byte, 4<<20)
	all := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
	var out []string
	for _, g := range all[1:] { // the first one is this goroutine
		if !slices.ContainsFunc(processGoroutines, func(m string) bool { return strings.Contains(g, m) }) {
			out = append(out, g)
		}
	}
	return out
}
