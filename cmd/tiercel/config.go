package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/tiercel/tiercel/gateway"
	"github.com/tiercel/tiercel/internal/demo"
	"github.com/tiercel/tiercel/internal/yamlconf"
)

// overrides are the settings that flags and environment variables change on
// top of the config file, so replicas can share one file.
type overrides struct {
	listen, adminListen string
}

// loadConfig reads the config file, or the embedded demo when path is empty
// (demoOrigin is then the in-process origin's address), applies environment
// and flag overrides, fills defaults and validates. Errors read
// "file: field: reason".
func loadConfig(path, demoOrigin string, ov overrides) (gateway.Config, error) {
	var cfg gateway.Config
	name, data := path, demo.Config
	lookup := os.LookupEnv
	if path == "" {
		name = "(embedded demo config)"
		lookup = func(k string) (string, bool) {
			if v, ok := os.LookupEnv(k); ok && v != "" {
				return v, true
			}
			switch k {
			case "TIERCEL_DEMO_ORIGIN":
				return demoOrigin, true
			case "TIERCEL_DEMO_SECRET":
				return demo.Secret, true
			}
			return "", false
		}
	} else {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return cfg, fmt.Errorf("cannot read config: %w", err)
		}
	}
	if err := yamlconf.Decode(data, &cfg, lookup); err != nil {
		return cfg, fmt.Errorf("%s: %w", name, err)
	}
	applyEnv(&cfg, ov)
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%s: %w", name, prefixLines(name, err))
	}
	return cfg, nil
}

// applyEnv lets TIERCEL_* variables and flags override the file: flags win
// over the environment, the environment over the file.
func applyEnv(cfg *gateway.Config, ov overrides) {
	cfg.Redis.ApplyEnv(os.LookupEnv)
	if v := os.Getenv("TIERCEL_KAFKA_BROKERS"); v != "" {
		cfg.Kafka.Brokers = splitList(v)
	}
	if v := os.Getenv("TIERCEL_KAFKA_TOPIC"); v != "" {
		cfg.Kafka.Topic = v
	}
	if v := os.Getenv("TIERCEL_LISTEN"); v != "" {
		cfg.Server.Listen = v
	}
	if v := os.Getenv("TIERCEL_ADMIN_LISTEN"); v != "" {
		cfg.Server.AdminListen = v
	}
	if ov.listen != "" {
		cfg.Server.Listen = ov.listen
	}
	if ov.adminListen != "" {
		cfg.Server.AdminListen = ov.adminListen
	}
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// prefixLines puts the file name in front of every joined error after the
// first, so each line reads "file: field: reason".
func prefixLines(name string, err error) error {
	type multi interface{ Unwrap() []error }
	m, ok := err.(multi)
	if !ok {
		return err
	}
	errs := m.Unwrap()
	msg := ""
	for i, e := range errs {
		if i > 0 {
			msg += "\n" + name + ": "
		}
		msg += e.Error()
	}
	return fmt.Errorf("%s", msg)
}
