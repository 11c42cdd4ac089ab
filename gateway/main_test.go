package gateway

import (
	"os"
	"testing"

	"github.com/tiercel/tiercel/internal/testredis"
)

// testCluster is the package's Redis Cluster, three masters with a replica
// each, started by the first test that runs on it (sharedredis_test.go).
var testCluster = &testredis.SharedCluster{Masters: 3, Replicas: 1}

func TestMain(m *testing.M) {
	code := m.Run()
	testCluster.Stop()
	os.Exit(code)
}
