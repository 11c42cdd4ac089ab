package invalidation

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics, every error is a *ParseError with a known
// reason, and every accepted event validates and survives a round trip.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/events/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	known := map[Reason]bool{}
	for _, r := range reasons {
		known[r] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !known[pe.Reason] {
				t.Fatalf("Parse error %v (%T) has no known reason", err, err)
			}
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("accepted event does not validate: %v", err)
		}
		_ = ev.RoutingKey()
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("cannot marshal accepted event: %v", err)
		}
		if _, err := Parse(b); err != nil {
			t.Fatalf("re-Parse of %s: %v", b, err)
		}
	})
}
