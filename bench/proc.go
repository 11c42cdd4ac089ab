package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcSpec is a server process the tool starts: the gateway, an origin,
// redis-server, nginx or varnishd.
type ProcSpec struct {
	Name string
	Path string
	Args []string
	// Env is added to the tool's environment.
	Env []string
	// CPU pins the process (and its children: affinity is inherited) to one
	// CPU through taskset; -1 leaves it unpinned.
	CPU int
	// LogPath receives stdout and stderr; "" discards them.
	LogPath string
	// Addr is polled until it accepts connections; "" does not wait.
	Addr string
}

// Proc is a running child process. It runs in a process group of its own,
// so Close can stop the children it forked (nginx and varnish workers) and
// nothing else.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// startWait bounds how long a server may take to accept connections.
const startWait = 15 * time.Second

// StartProc starts spec and waits for its address to accept connections.
func StartProc(spec ProcSpec) (*Proc, error) {
	path, args := spec.Path, spec.Args
	if spec.CPU >= 0 {
		args = append([]string{"-c", strconv.Itoa(spec.CPU), path}, args...)
		path = "taskset"
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc{Name: spec.Name, cmd: cmd, done: make(chan struct{})}
	if spec.LogPath != "" {
		f, err := os.Create(spec.LogPath)
		if err != nil {
			return nil, fmt.Errorf("cannot start %s: %w", spec.Name, err)
		}
		p.log, cmd.Stdout, cmd.Stderr = f, f, f
	}
	if err := cmd.Start(); err != nil {
		p.closeLog()
		return nil, fmt.Errorf("cannot start %s: %w", spec.Name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if spec.Addr != "" {
		if err := p.waitListening(spec.Addr, spec.LogPath); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// waitListening polls addr until it accepts a connection, the process
// exits, or startWait passes.
func (p *Proc) waitListening(addr, logPath string) error {
	deadline := time.Now().Add(startWait)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("cannot start %s: it exited (%v) before listening on %s%s", p.Name, p.err, addr, logTail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot start %s: %s not listening after %v%s", p.Name, addr, startWait, logTail(logPath))
		}
	}
}

// logTail is the end of a log file, to say why a process did not start.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	s := strings.TrimSpace(string(data[max(0, len(data)-600):]))
	return "; its log ends:\n" + s
}

// Pid is the process id (taskset execs the program, so it keeps this pid).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Close stops the process group: SIGTERM, then SIGKILL after 5 s.
func (p *Proc) Close() {
	defer p.closeLog()
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Workers of a master killed first may linger in the group briefly.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

func (p *Proc) closeLog() {
	if p.log != nil {
		p.log.Close()
	}
}

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat times; it is
// 100 on every architecture Go supports on Linux.
const clockTicks = 100

// TreeCPU is the CPU time used so far by the process pid and all its
// descendants (utime+stime of each, plus cutime+cstime of children they
// reaped), from /proc. Threads are included in their process's times.
func TreeCPU(pid int) (time.Duration, error) {
	stats, err := procStats()
	if err != nil {
		return 0, err
	}
	if _, ok := stats[pid]; !ok {
		return 0, fmt.Errorf("cannot read the CPU time of %d: no such process", pid)
	}
	var ticks int64
	for p, st := range stats {
		if p == pid || descends(stats, p, pid) {
			ticks += st.ticks
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

type procStat struct {
	ppid  int
	ticks int64
}

func procStats() (map[int]procStat, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	out := make(map[int]procStat, len(dirs))
	for _, path := range dirs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		pid, st, err := parseProcStat(string(data))
		if err == nil {
			out[pid] = st
		}
	}
	if len(out) == 0 {
		return nil, errors.New("cannot read /proc: no processes")
	}
	return out, nil
}

// parseProcStat reads pid, ppid and utime+stime+cutime+cstime from a
// /proc/<pid>/stat line. The command name may hold spaces and parentheses,
// so fields are counted from the last ')'.
func parseProcStat(line string) (int, procStat, error) {
	open, closing := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 1 || closing < open {
		return 0, procStat{}, fmt.Errorf("cannot parse stat %q", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return 0, procStat{}, fmt.Errorf("cannot parse stat pid: %w", err)
	}
	f := strings.Fields(line[closing+1:])
	// f[0] is field 3 (state): ppid is field 4, utime…cstime 14…17.
	if len(f) < 15 {
		return 0, procStat{}, fmt.Errorf("cannot parse stat %q: too few fields", line)
	}
	st := procStat{}
	if st.ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, procStat{}, fmt.Errorf("cannot parse stat ppid: %w", err)
	}
	for _, s := range f[11:15] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, procStat{}, fmt.Errorf("cannot parse stat times: %w", err)
		}
		st.ticks += v
	}
	return pid, st, nil
}

func descends(stats map[int]procStat, p, ancestor int) bool {
	for range 64 { // bounded: a pid cycle cannot happen, but /proc races
		st, ok := stats[p]
		if !ok || st.ppid <= 1 {
			return false
		}
		if st.ppid == ancestor {
			return true
		}
		p = st.ppid
	}
	return false
}

// freeAddr is a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cannot find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot make %s: %w", dir, err)
	}
	return nil
}
