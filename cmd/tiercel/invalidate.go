package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tiercel/tiercel/invalidation"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func invalidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("invalidate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var tags, keys, models, entities listFlag
	fs.Var(&tags, "tag", "tag to invalidate (repeatable), e.g. product:42")
	fs.Var(&keys, "key", "request path to invalidate (repeatable), e.g. /api/products/42")
	fs.Var(&models, "model", "model whose cached predictions to drop (repeatable)")
	fs.Var(&entities, "entity", "feature row to drop, view:col=value[,col=value] (repeatable), e.g. user_stats:user_id=u1")
	brokers := fs.String("brokers", os.Getenv("TIERCEL_KAFKA_BROKERS"), "Kafka brokers host:port,... (default $TIERCEL_KAFKA_BROKERS)")
	topic := fs.String("topic", envOr("TIERCEL_KAFKA_TOPIC", invalidation.DefaultTopic), "Kafka topic")
	admin := fs.String("admin", "", "post to this gateway admin URL instead of Kafka, e.g. http://localhost:8081")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin listener's bearer token (default: $TIERCEL_ADMIN_TOKEN)")
	version := fs.Int64("source-version", 0, "source_version of the event (0: none)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ev := &invalidation.Event{Version: invalidation.Version, ID: invalidation.NewID(), Type: invalidation.TypeInvalidate,
		Tags: tags, Keys: keys, Models: models, SourceVersion: *version, TS: time.Now().UTC()}
	for _, e := range entities {
		ent, err := parseEntity(e)
		if err != nil {
			fmt.Fprintf(stderr, "tiercel invalidate: -entity %q: %v\n", e, err)
			return 2
		}
		ev.Entities = append(ev.Entities, ent)
	}
	if err := ev.Validate(); err != nil {
		fmt.Fprintf(stderr, "tiercel invalidate: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	switch {
	case *admin != "":
		var tok string
		if tok, err = adminToken(*tokenFile); err == nil {
			err = postEvent(ctx, *admin, tok, ev, stdout)
		}
	case *brokers != "":
		err = publishEvent(ctx, splitList(*brokers), *topic, ev)
		if err == nil {
			fmt.Fprintf(stdout, "published %s to %s\n", ev.ID, *topic)
		}
	default:
		fmt.Fprintln(stderr, "tiercel invalidate: give -brokers (or TIERCEL_KAFKA_BROKERS) or -admin")
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "tiercel invalidate: %v\n", err)
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// parseEntity reads view:col=value[,col=value].
func parseEntity(s string) (invalidation.Entity, error) {
	view, cols, ok := strings.Cut(s, ":")
	if !ok || view == "" || cols == "" {
		return invalidation.Entity{}, fmt.Errorf("want view:col=value")
	}
	ent := invalidation.Entity{View: view, Key: map[string]any{}}
	for _, kv := range strings.Split(cols, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return ent, fmt.Errorf("want col=value, got %q", kv)
		}
		ent.Key[k] = v
	}
	return ent, nil
}

func publishEvent(ctx context.Context, brokers []string, topic string, ev *invalidation.Event) error {
	p, err := invalidation.NewProducer(invalidation.ProducerConfig{Endpoint: invalidation.Endpoint{Brokers: brokers, Topic: topic}})
	if err != nil {
		return err
	}
	defer p.Close()
	return p.Publish(ctx, ev)
}

// adminToken reads the admin token from a file, or from
// TIERCEL_ADMIN_TOKEN; there is no flag for the token itself, which would
// show in ps and in shell history.
func adminToken(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv("TIERCEL_ADMIN_TOKEN")), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("cannot read the admin token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func postEvent(ctx context.Context, admin, token string, ev *invalidation.Event, stdout io.Writer) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(admin, "/")+"/admin/invalidate", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot post to the admin listener: %w", err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin listener answered %d: %s", resp.StatusCode, bytes.TrimSpace(reply))
	}
	_, _ = stdout.Write(reply)
	return nil
}
