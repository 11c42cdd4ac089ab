package chaos

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/testnet"
	"github.com/tiercel/tiercel/internal/testwait"
)

// rolloutSize is how long and how hard TestRollout runs.
type rolloutSize struct {
	name string
	rate float64 // requests/s through HAProxy
	// drainDelay is server.drain_delay; 0 leaves the default (5s).
	drainDelay time.Duration
	rounds     int // restarts of each replica
}

// The short form runs in `make test` (the generator under -race); the full
// form in `make chaos`, with the default drain delay.
var rolloutSizes = map[string]rolloutSize{
	"short": {name: "short", rate: 200, drainDelay: time.Second, rounds: 1},
	"full":  {name: "full", rate: 500, rounds: 3},
}

// slowWork is how long the origin takes on /api/slow/: long enough that a
// few such requests are always in flight when a replica stops accepting.
const slowWork = 300 * time.Millisecond

// TestRollout is a rolling restart as Kubernetes does one: two real `tiercel
// serve` processes behind HAProxy, which checks /readyz on their admin
// listeners every 100ms, under an open-loop load with keep-alive through
// HAProxy; each replica in turn gets SIGTERM, exits, starts again on the
// same ports and is waited for until HAProxy sends to it again. HAProxy
// never retries (retries 0), so a refused or reset connection is a failed
// request: not one may fail.
func TestRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tiercel processes and HAProxy and runs load: not in -short")
	}
	mode := os.Getenv("CHAOS")
	if mode == "" {
		mode = "short"
	}
	sz, ok := rolloutSizes[mode]
	if !ok {
		t.Fatalf("CHAOS=%q: want short (default) or full", mode)
	}
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatalf("haproxy not found in PATH (run `make test`, which installs it): %v", err)
	}
	checkGoroutines(t)
	bin := buildTiercel(t)
	origin := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/slow/") {
			time.Sleep(slowWork) // the origin's work, not synchronisation
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"path":"` + r.URL.Path + `"}`))
	}))
	dir := t.TempDir()
	replicas := make([]*replica, 2)
	for i := range replicas {
		replicas[i] = newReplica(t, bin, dir, fmt.Sprintf("r%d", i), origin, sz.drainDelay)
		replicas[i].start()
	}
	lb := startHAProxy(t, haproxy, dir, replicas)
	for _, r := range replicas {
		lb.waitStatus(r.name, "UP", 10*time.Second)
	}

	load, err := StartLoad(LoadConfig{
		Bases:   []string{"http://" + lb.front},
		Rate:    sz.rate,
		Timeout: clientTimeout,
		Targets: []Target{
			rolloutTarget("fast", "/api/items/"), rolloutTarget("fast", "/api/items/"),
			rolloutTarget("fast", "/api/items/"), rolloutTarget("slow", "/api/slow/"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			load.Stop()
		}
	}()
	settle := func() { // a second of load on both replicas between restarts
		n := len(load.Snapshot())
		testwait.For(t, 10*time.Second, "load to flow", func() bool { return len(load.Snapshot()) >= n+int(sz.rate) })
	}
	settle()
	var outs []time.Duration
	for round := 0; round < sz.rounds; round++ {
		for _, r := range replicas {
			outs = append(outs, r.restart(lb))
			settle()
		}
	}
	samples := load.Stop()
	stopped = true
	res := summarizeRollout(samples)
	t.Logf("rollout (%s, drain_delay %s, %d restarts, %.0f req/s): %s; out of HAProxy after SIGTERM: %v",
		sz.name, replicas[0].drain, len(outs), sz.rate, res, outs)
	if res.failed > 0 || res.connErrors > 0 {
		t.Fatalf("%d failed requests, %d connection errors; first: %s\n%s%s", res.failed, res.connErrors, res.first,
			replicas[0].logTail()+replicas[1].logTail(), lb.logTail())
	}
	for _, r := range replicas {
		if res.byServer[r.name] == 0 {
			t.Errorf("no request answered by %s: %v", r.name, res.byServer)
		}
	}
}

func rolloutTarget(name, prefix string) Target {
	return Target{
		Name: name,
		Path: func(i uint64) string { return prefix + strconv.FormatUint(i, 10) },
		// Which replica answered: HAProxy names it.
		Steps: func(resp *fasthttp.Response) []string { return []string{string(resp.Header.Peek("X-Served-By"))} },
	}
}

// rolloutResult is what the load saw.
type rolloutResult struct {
	requests, failed, connErrors int
	first                        string // the first failure
	p99, max                     map[string]time.Duration
	byServer                     map[string]int
}

func summarizeRollout(samples []Sample) rolloutResult {
	res := rolloutResult{requests: len(samples), p99: map[string]time.Duration{}, max: map[string]time.Duration{}, byServer: map[string]int{}}
	lat := map[string][]time.Duration{}
	for _, s := range samples {
		switch {
		case s.Err != "":
			res.connErrors++
		case s.Status != 200:
			res.failed++
		}
		if (s.Err != "" || s.Status != 200) && res.first == "" {
			res.first = fmt.Sprintf("%s due %s: status %d %s %s", s.Target, s.Due.Format("15:04:05.000"), s.Status, s.Err, s.Body)
		}
		for _, st := range s.Steps {
			res.byServer[st]++
		}
		lat[s.Target] = append(lat[s.Target], s.Latency)
		lat["all"] = append(lat["all"], s.Latency)
	}
	for k, l := range lat {
		slices.Sort(l)
		res.p99[k] = l[min(len(l)-1, len(l)*99/100)]
		res.max[k] = l[len(l)-1]
	}
	return res
}

func (r rolloutResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests, %d failed, %d connection errors", r.requests, r.failed, r.connErrors)
	for _, k := range []string{"all", "fast", "slow"} {
		fmt.Fprintf(&b, "; %s p99 %s max %s", k, ms(r.p99[k]), ms(r.max[k]))
	}
	fmt.Fprintf(&b, "; answered by %v", r.byServer)
	return b.String()
}

// buildTiercel builds cmd/tiercel from this tree.
func buildTiercel(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tiercel")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/tiercel").CombinedOutput(); err != nil {
		t.Fatalf("cannot build tiercel: %v\n%s", err, out)
	}
	return bin
}

// replica is one `tiercel serve` process, restarted on the same ports.
type replica struct {
	t                   *testing.T
	name, bin, config   string
	listen, admin, logf string
	drain               string // server.drain_delay as configured
	proc                *proc
}

// proc is a started process whose exit is watched once: exited closes
// when it has exited, and err is then its exit error.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func startProc(cmd *exec.Cmd) (*proc, error) {
	// Own process group, and killed with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

func (p *proc) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// kill ends the process if it still runs and waits for it.
func (p *proc) kill() {
	if p == nil {
		return
	}
	if !p.done() {
		_ = p.cmd.Process.Kill()
	}
	<-p.exited
}

func newReplica(t *testing.T, bin, dir, name, origin string, drainDelay time.Duration) *replica {
	t.Helper()
	r := &replica{t: t, name: name, bin: bin,
		listen: fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t)), admin: fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t)),
		config: filepath.Join(dir, name+".yaml"), logf: filepath.Join(dir, name+".log")}
	drain := ""
	r.drain = "5s (default)"
	if drainDelay > 0 {
		r.drain = drainDelay.String()
		drain = "  drain_delay: " + r.drain + "\n"
	}
	cfg := "server:\n  listen: \"" + r.listen + "\"\n  admin_listen: \"" + r.admin + "\"\n" + drain +
		"  shutdown_timeout: 5s\n" +
		"upstreams: [{name: origin, targets: [\"" + origin + "\"]}]\n" +
		"routes: [{name: api, path: \"/api/{rest...}\", upstream: origin, auth: {mode: none}, timeout: 2s}]\n"
	if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.proc.kill() })
	return r
}

// start runs the process and waits until its /readyz answers 200.
func (r *replica) start() {
	r.t.Helper()
	logf, err := os.OpenFile(r.logf, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(r.bin, "serve", "-config", r.config)
	cmd.Env = tiercelFreeEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	if r.proc, err = startProc(cmd); err != nil {
		r.t.Fatalf("cannot start %s: %v", r.name, err)
	}
	testwait.For(r.t, 20*time.Second, r.name+" ready", func() bool {
		if r.proc.done() {
			r.t.Fatalf("%s exited at start: %v\n%s", r.name, r.proc.err, r.logTail())
		}
		resp, err := http.Get("http://" + r.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// restart sends SIGTERM, waits for a clean exit, starts the replica again
// and waits until HAProxy sends to it. It returns how long HAProxy took to
// take the replica out.
func (r *replica) restart(lb *haproxyProc) time.Duration {
	r.t.Helper()
	sent := time.Now()
	if err := r.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatal(err)
	}
	lb.waitStatus(r.name, "DOWN", 10*time.Second)
	out := time.Since(sent)
	select {
	case <-r.proc.exited:
		if r.proc.err != nil {
			r.t.Fatalf("%s after SIGTERM: %v\n%s", r.name, r.proc.err, r.logTail())
		}
	case <-time.After(30 * time.Second):
		r.t.Fatalf("%s did not exit within 30s of SIGTERM\n%s", r.name, r.logTail())
	}
	r.start()
	lb.waitStatus(r.name, "UP", 10*time.Second)
	return out.Round(time.Millisecond)
}

func (r *replica) logTail() string {
	b, _ := os.ReadFile(r.logf)
	return fmt.Sprintf("--- %s log (end):\n%s\n", r.name, b[max(0, len(b)-3000):])
}

// tiercelFreeEnv is this process's environment without TIERCEL_*
// variables, which would override the replica's config file.
func tiercelFreeEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "TIERCEL_") })
}

// haproxyProc is HAProxy in front of the replicas: round robin, keep-alive
// on both sides, /readyz checked on each admin listener every 100ms, one
// failed check takes a replica out, one passed check puts it back.
type haproxyProc struct {
	t     *testing.T
	front string // the public side
	stats string // the stats page
	logf  string
	proc  *proc
}

const haproxyConfig = `global
    maxconn 4096
    log stderr format raw local0
defaults
    mode http
    log global
    option log-health-checks
    timeout connect 1s
    # A check waits this long for /readyz, not the 100ms interval (the
    # default): on a busy machine a healthy replica can take longer to
    # answer, and taking it out while the other restarts leaves none.
    timeout check 1s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
    # A refused or reset connection must show as a failure, not be retried
    # away: it is what the drain delay is there to prevent.
    retries 0
frontend front
    bind %s
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    http-response set-header X-Served-By %%[srv_name]
    default-server inter 100ms fall 1 rise 1
%slisten stats
    bind %s
    stats enable
    stats uri /stats
`

func startHAProxy(t *testing.T, bin, dir string, replicas []*replica) *haproxyProc {
	t.Helper()
	h := &haproxyProc{t: t, front: fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t)), stats: fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))}
	var servers strings.Builder
	for _, r := range replicas {
		_, port, _ := strings.Cut(r.admin, ":")
		fmt.Fprintf(&servers, "    server %s %s check port %s\n", r.name, r.listen, port)
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, haproxyConfig, h.front, servers.String(), h.stats), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy rejects its config: %v\n%s", err, out)
	}
	// -db: in the foreground, so the process we started is the one to kill.
	cmd := exec.Command(bin, "-db", "-f", cfg)
	logf, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child holds its own descriptor
	h.logf = logf.Name()
	cmd.Stdout, cmd.Stderr = logf, logf
	if h.proc, err = startProc(cmd); err != nil {
		t.Fatalf("cannot start haproxy: %v", err)
	}
	t.Cleanup(h.proc.kill)
	return h
}

func (h *haproxyProc) logTail() string {
	b, _ := os.ReadFile(h.logf)
	return fmt.Sprintf("--- haproxy log (end):\n%s\n", b[max(0, len(b)-4000):])
}

// status is the server's state on HAProxy's stats page: UP, DOWN, MAINT…
func (h *haproxyProc) status(server string) (string, error) {
	resp, err := http.Get("http://" + h.stats + "/stats;csv")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	rd := csv.NewReader(resp.Body)
	rd.FieldsPerRecord = -1
	rows, err := rd.ReadAll()
	if err != nil || len(rows) == 0 {
		return "", fmt.Errorf("cannot read the stats page: %v", err)
	}
	col := slices.Index(rows[0], "status")
	for _, row := range rows[1:] {
		if col > 0 && len(row) > col && row[0] == "replicas" && row[1] == server {
			return row[col], nil
		}
	}
	return "", fmt.Errorf("no server %s on the stats page", server)
}

func (h *haproxyProc) waitStatus(server, want string, within time.Duration) {
	h.t.Helper()
	last := ""
	for deadline := time.Now().Add(within); last != want; time.Sleep(10 * time.Millisecond) {
		if h.proc.done() {
			b, _ := os.ReadFile(h.logf)
			h.t.Fatalf("haproxy exited: %v\n%s", h.proc.err, b)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("HAProxy did not see %s %s within %v (last: %s)", server, want, within, last)
		}
		st, err := h.status(server)
		if last = st; err != nil {
			last = err.Error()
		}
	}
}
