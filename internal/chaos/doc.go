// Package chaos is the harness of Tiercel's chaos suite (issue #6,
// "graceful degradation"): a TCP fault proxy run in process (toxiproxy as a
// library), an open-loop load driver that times every request from its
// intended send time and reads which step of the degradation ladder
// answered it, and the per-fault report table.
//
// The suite itself lives in this package's tests: it starts real processes
// and servers (redis-server, a kfake broker, loopback origins, a Feast-style
// feature server, an Open Inference Protocol model server, a JWKS endpoint
// and two gateway replicas), breaks one dependency at a time under load and
// checks that every answer stays inside its budget, that routes with a
// fallback never answer 5xx, that each answer names its ladder step, that
// /readyz names the broken dependency and that everything recovers.
//
// It must never be imported by non-test code: it exists to break things.
package chaos
