package bench

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses; times are fields 14–17.
	line := "4242 (my (odd) proc) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 9 0 12345 0 0"
	pid, st, err := parseProcStat(line)
	if err != nil || pid != 4242 || st.ppid != 17 || st.ticks != 310 {
		t.Errorf("parse: pid %d %+v %v, want 4242 ppid 17 ticks 310", pid, st, err)
	}
	for _, bad := range []string{"", "12 no parens S 1", "12 (x) S", "x (y) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"} {
		if _, _, err := parseProcStat(bad); err == nil {
			t.Errorf("parse %q: want an error", bad)
		}
	}
}

// A child that burns CPU shows up in its parent's tree time while it runs.
func TestTreeCPUCountsChildren(t *testing.T) {
	// sh forks a busy loop as its child and waits for it.
	cmd := exec.Command("sh", "-c", "sh -c 'while :; do :; done' & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a group of its own, to stop both
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	var d time.Duration
	if !testwait.Until(20*time.Second, func() bool {
		var err error
		if d, err = TreeCPU(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		return d >= 100*time.Millisecond
	}) {
		t.Fatalf("tree CPU %v after 20s of a busy child: children are not counted", d)
	}
}

func TestTreeCPUNoProcess(t *testing.T) {
	if _, err := TreeCPU(1 << 30); err == nil {
		t.Error("want an error for a pid that does not exist")
	}
	if _, err := TreeCPU(os.Getpid()); err != nil {
		t.Errorf("own process: %v", err)
	}
}
