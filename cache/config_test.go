package cache

import (
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
)

func TestConfigValidate(t *testing.T) {
	f := func(cfg Config, want string) {
		t.Helper()
		err := cfg.Validate()
		switch {
		case want == "" && err != nil:
			t.Fatalf("Validate(%+v) = %v, want nil", cfg, err)
		case want != "" && (err == nil || !strings.HasPrefix(err.Error(), want)):
			t.Fatalf("Validate(%+v) = %v, want %q...", cfg, err, want)
		}
	}
	f(Config{}, "")
	f(Config{L1MaxBytes: mib, L2Timeout: time.Second, TombstoneTTL: time.Second}, "")
	f(Config{L1MaxBytes: mib - 1}, "l1_max_bytes: must be >= 1 MiB")
	f(Config{L1MaxBytes: -1}, "l1_max_bytes:")
	f(Config{L1Counters: 10}, "l1_counters:")
	f(Config{L2Timeout: time.Microsecond}, "l2_timeout:")
	f(Config{L2Timeout: 2 * time.Second}, "l2_timeout:")
	f(Config{TombstoneTTL: time.Millisecond}, "tombstone_ttl:")
	f(Config{MaxTombstones: -1}, "max_tombstones:")
	f(Config{FillTimeout: -1}, "fill_timeout:")
	f(Config{InvalidateTimeout: -1}, "invalidate_timeout:")
	f(Config{L2QueueSize: -1}, "l2_queue_size:")
	f(Config{L2BatchMax: -1}, "l2_batch_max:")
	f(Config{Breaker: breaker.Config{Cooldown: -1}}, "breaker.cooldown:")
	f(Config{KeyPrefix: "{tiercel}:"}, "")
	f(Config{KeyPrefix: "a}b:"}, "")
	f(Config{KeyPrefix: "a{"}, "key_prefix:")
	f(Config{KeyPrefix: "{}a:"}, "key_prefix:")
	f(Config{KeyPrefix: "a{b"}, "key_prefix:")
}

// Every problem is reported, each on its own line with its path.
func TestConfigValidateAll(t *testing.T) {
	err := Config{L1MaxBytes: -1, FillTimeout: -1, Breaker: breaker.Config{Cooldown: -1}}.Validate()
	want := []string{
		"l1_max_bytes: must be >= 1 MiB",
		"fill_timeout: must not be negative",
		"breaker.cooldown: must not be negative",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("Validate = %v, want %q", err, want)
	}
}

func TestConfigDefaults(t *testing.T) {
	d := Config{}.withDefaults()
	if d.L1MaxBytes != 256*mib || d.L2Timeout != 5*time.Millisecond || d.KeyPrefix != "tiercel:" ||
		d.TombstoneTTL != time.Hour || d.Breaker.Failures != 5 || d.Breaker.Cooldown != time.Second {
		t.Fatalf("defaults: %+v", d)
	}
	if _, err := New(Config{L1MaxBytes: 1}, nil, nil); err == nil || !strings.Contains(err.Error(), "l1_max_bytes") {
		t.Fatalf("New with a bad config = %v", err)
	}
}
