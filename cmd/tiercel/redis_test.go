package main

import (
	"testing"
)

// TestRedisFormsRefusedAlike: every Redis form that cannot work is
// refused by validate and by serve, with the same message (seen:
// redis://A,B,C passed validate and then never connected; go-redis's
// ?addr= cluster form was refused by serve but passed validate).
func TestRedisFormsRefusedAlike(t *testing.T) {
	f := func(body, want string, env ...string) {
		t.Helper()
		for i := 0; i+1 < len(env); i += 2 {
			t.Setenv(env[i], env[i+1])
		}
		refusedAlike(t, writeFile(t, "redis.yaml", body), want)
		for i := 0; i+1 < len(env); i += 2 {
			t.Setenv(env[i], "")
		}
	}
	f("redis: {url: \"redis://10.0.0.1:7000,10.0.0.2:7000\"}\n", "names several nodes: for a Redis Cluster set redis.mode: cluster")
	f("redis: {url: \"redis://10.0.0.1:7000?addr=10.0.0.2:7000\"}\n", "names several nodes")
	f("redis: {mode: cluster, addrs: [\"10.0.0.1:7000\"], db: 3}\n", "redis.db: a Redis Cluster has only database 0")
	f("redis: {mode: failover, addrs: [\"10.0.0.1:26379\"]}\n", "redis.master_name")
	// The environment is read before validation, by both.
	f("redis: {url: \"redis://10.0.0.1:6379\"}\n", "redis.addrs: 2 addresses in single mode",
		"TIERCEL_REDIS_ADDRS", "10.0.0.1:7000,10.0.0.2:7000")
	f("redis: {url: \"redis://10.0.0.1:6379\"}\n", `redis.mode: "shard"`, "TIERCEL_REDIS_MODE", "shard")

	ok := writeFile(t, "ok.yaml", "redis: {url: \"redis://10.0.0.1:6379\"}\n")
	t.Setenv("TIERCEL_REDIS_MODE", "cluster")
	t.Setenv("TIERCEL_REDIS_ADDRS", "10.0.0.1:7000,10.0.0.2:7000")
	if code, out, errOut := runCLI("validate", "-config", ok); code != 0 {
		t.Fatalf("cluster from the environment: code %d %q %q", code, out, errOut)
	}
}
