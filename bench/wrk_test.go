package bench

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := []byte("Running 5s test @ http://127.0.0.1:1/\n  1 threads and 64 connections\n" +
		wrkMarker + `{"requests":500000,"duration_us":5000000,"status_errors":2,"connect":0,"read":1,"write":0,"timeout":0,"p50":250,"p90":400,"p99":900,"p999":2100,"max":9000}` + "\n")
	s, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 500000 || s.errors() != 3 || s.P999 != 2100 || s.DurationUS != 5e6 {
		t.Errorf("summary %+v", s)
	}
	for _, bad := range []string{"Requests/sec: 1000\n", wrkMarker + "{not json}\n", wrkMarker + `{"requests":5}` + "\n"} {
		if _, err := parseWrk([]byte(bad)); err == nil {
			t.Errorf("parse %q: want an error", bad)
		}
	}
}

// The script really makes wrk print the summary line (when wrk is here).
func TestWrkScript(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed (make bench-deps installs it)")
	}
	url := serve(t, NewBare(1024).Handler())
	w, err := newWrkRunner(t.TempDir(), -1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := w.run(url+"/", []Header{{"Authorization", "Bearer x"}}, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests == 0 || s.errors() != 0 || s.P50 <= 0 || s.Max < s.P99 {
		t.Errorf("summary %+v", s)
	}
}

func TestMedianRun(t *testing.T) {
	runs := []MaxRun{{Rate: 3, P99: 30}, {Rate: 1, P99: 10}, {Rate: 2, P99: 20}}
	if m := medianRun(runs); m.Rate != 2 || m.P99 != 20 {
		t.Errorf("median %+v, want the rate-2 run whole", m)
	}
	if m := medianRun(runs[:2]); m.Rate != 1 {
		t.Errorf("median of two %+v, want the lower", m)
	}
	if !strings.Contains(generatorName("wrk"), "wrk") {
		t.Error("generator name")
	}
}
