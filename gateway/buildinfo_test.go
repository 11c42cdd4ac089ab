package gateway

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

func TestBuildInfoMetric(t *testing.T) {
	h := newHarness(t, nil)
	resp, err := http.Get(h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "tiercel_build_info{") {
			if !strings.Contains(line, `goversion="`+runtime.Version()+`"`) || !strings.Contains(line, `revision="`) ||
				!strings.Contains(line, `version="`) || !strings.HasSuffix(line, "} 1") {
				t.Fatalf("build info: %q", line)
			}
			return
		}
	}
	t.Fatal("no tiercel_build_info in /metrics")
}
