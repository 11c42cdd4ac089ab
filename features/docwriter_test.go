package features

import (
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The package doc's Python writer, run as written, makes rows this
// package reads, its event time to the nanosecond.
func TestDocPythonWriter(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	in := false
	for _, l := range strings.Split(string(doc), "\n") {
		switch {
		case strings.HasPrefix(l, "//\tdef uvarint"):
			in = true
		case in && !strings.HasPrefix(l, "//\t") && l != "//":
			in = false
		}
		if in {
			code = append(code, strings.TrimPrefix(strings.TrimPrefix(l, "//"), "\t"))
		}
	}
	if len(code) == 0 {
		t.Fatal("no Python writer in doc.go")
	}
	script := "import json, struct\n" + strings.Join(code, "\n") +
		"\nprint(row(1652439582123456789, {\"clicks_7d\": 12, \"country\": \"FR\"}).hex())\n"
	out, err := exec.Command(py, "-c", script).Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, script)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	v := fuzzStore(t).reg.views["user_stats"]
	vals := make([][]byte, len(v.features))
	ts, ok := decodeStored(b, v, vals)
	if !ok || ts != 1652439582123456789 || string(vals[v.byName["clicks_7d"]]) != "12" || string(vals[v.byName["country"]]) != `"FR"` {
		t.Errorf("python row %x: ok %v ts %d vals %q", b, ok, ts, vals)
	}
	if got := string(appendTimestamp(nil, ts)); got != `"2022-05-13T10:59:42.123456789Z"` {
		t.Errorf("rendered %s", got)
	}
}
