package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
)

// pinnedEnv marks a process that pinSelf already moved to its CPU.
const pinnedEnv = "TIERCEL_BENCH_PINNED"

// pinSelf re-executes the tool under `taskset -c cpu` with GOMAXPROCS=1,
// so the load generator has one CPU to itself and the servers (pinned to
// another by the tool) never share it. Affinity cannot be set for a
// running Go process as a whole (it is per thread), hence the re-exec; it
// keeps the pid, so signals and the parent see the same process. cpu < 0,
// or a machine without that CPU, leaves the process as it is.
func pinSelf(cpu int) error {
	if cpu < 0 || os.Getenv(pinnedEnv) != "" || cpu >= runtime.NumCPU() {
		return nil
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("cannot pin the load generator: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot pin the load generator: %w", err)
	}
	args := append([]string{"taskset", "-c", strconv.Itoa(cpu), self}, os.Args[1:]...)
	env := append(os.Environ(), pinnedEnv+"=1", "GOMAXPROCS=1")
	return syscall.Exec(taskset, args, env)
}
