package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
)

// TestSanity runs csi-sanity (csi-test's pkg/sanity) against the driver: a controller and a node
// service on their own sockets over one root, as the local cluster runs them. The node service
// bind-mounts, so it needs root.
func TestSanity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs: root (NodeStageVolume and NodePublishVolume bind-mount)")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	ctx, cancel := context.WithCancel(context.Background())
	serve := func(mode, nodeID, zone string) string {
		endpoint := "unix://" + filepath.Join(dir, mode+".sock")
		errs := make(chan error, 1)
		go func() { errs <- runDriver(ctx, mode, endpoint, root, nodeID, zone) }()
		t.Cleanup(func() {
			if err := <-errs; err != nil {
				t.Errorf("%s driver: %v", mode, err)
			}
		})
		return endpoint
	}
	// Cleanups run last-in first-out: cancel (registered last) runs before the waits above.
	controllerEndpoint := serve("controller", "", "")
	nodeEndpoint := serve("node", "sanity-node", "zone-a")
	t.Cleanup(cancel)

	config := sanity.NewTestConfig()
	config.Address = nodeEndpoint
	config.ControllerAddress = controllerEndpoint
	config.TargetPath = filepath.Join(dir, "target")
	config.StagingPath = filepath.Join(dir, "staging")
	config.TestInvalidListVolumesStartingToken = "not-an-index"
	sanity.Test(t, config)
}
