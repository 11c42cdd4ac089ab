package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// wrkScript makes wrk print its summary as one JSON line, with the
// percentiles its default output leaves out (p99.9) and its errors by
// kind. Latencies are in µs.
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  local p = function(q) return math.floor(latency:percentile(q)) end
  io.write(string.format('` + wrkMarker + `{"requests":%d,"duration_us":%d,"status_errors":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    p(50), p(90), p(99), p(99.9), math.floor(latency.max)))
end
`

const wrkMarker = "TIERCEL-BENCH "

// wrkSummary is what wrkScript prints.
type wrkSummary struct {
	Requests     int64 `json:"requests"`
	DurationUS   int64 `json:"duration_us"`
	StatusErrors int64 `json:"status_errors"` // non-2xx/3xx answers
	Connect      int64 `json:"connect"`
	Read         int64 `json:"read"`
	Write        int64 `json:"write"`
	Timeout      int64 `json:"timeout"`
	P50          int64 `json:"p50"`
	P90          int64 `json:"p90"`
	P99          int64 `json:"p99"`
	P999         int64 `json:"p999"`
	Max          int64 `json:"max"`
}

func (s wrkSummary) errors() int64 {
	return s.StatusErrors + s.Connect + s.Read + s.Write + s.Timeout
}

// parseWrk finds wrkScript's line in wrk's output.
func parseWrk(out []byte) (wrkSummary, error) {
	var s wrkSummary
	i := bytes.Index(out, []byte(wrkMarker))
	if i < 0 {
		return s, fmt.Errorf("cannot parse wrk output: no summary line in %q", tail(out))
	}
	line := out[i+len(wrkMarker):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	if err := json.Unmarshal(line, &s); err != nil {
		return s, fmt.Errorf("cannot parse wrk summary %q: %w", line, err)
	}
	if s.DurationUS <= 0 {
		return s, fmt.Errorf("cannot parse wrk summary %q: no duration", line)
	}
	return s, nil
}

func tail(b []byte) []byte { return b[max(0, len(b)-300):] }

// wrkRunner runs wrk -t1 (one thread: one core) pinned to a CPU.
type wrkRunner struct {
	script string // path of wrkScript
	cpu    int
}

func newWrkRunner(dir string, cpu int) (*wrkRunner, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil, fmt.Errorf("cannot use wrk: %w", err)
	}
	path := filepath.Join(dir, "summary.lua")
	if err := os.WriteFile(path, []byte(wrkScript), 0o644); err != nil {
		return nil, fmt.Errorf("cannot write the wrk script: %w", err)
	}
	return &wrkRunner{script: path, cpu: cpu}, nil
}

func (w *wrkRunner) run(url string, headers []Header, conns int, d time.Duration) (wrkSummary, error) {
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(max(int(d.Seconds()), 1)) + "s", "-s", w.script}
	for _, h := range headers {
		args = append(args, "-H", h.Name+": "+h.Value)
	}
	args = append(args, url)
	path := "wrk"
	if w.cpu >= 0 {
		args = append([]string{"-c", strconv.Itoa(w.cpu), "wrk"}, args...)
		path = "taskset"
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		return wrkSummary{}, fmt.Errorf("cannot run wrk: %w: %s", err, tail(out))
	}
	return parseWrk(out)
}
