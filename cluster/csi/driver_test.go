package main

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func mountCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

// cluster: a controller and two nodes of zone-a, plus one of zone-b, over one root.
func cluster(t *testing.T) (*driver, map[string]*driver) {
	t.Helper()
	root := t.TempDir()
	ctrl, err := newDriver(root, "", "")
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*driver{}
	for name, zone := range map[string]string{"node-1": "zone-a", "node-2": "zone-a", "node-3": "zone-b"} {
		d, err := newDriver(root, name, zone)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.newServer("node"); err != nil {
			t.Fatal(err)
		}
		nodes[name] = d
	}
	return ctrl, nodes
}

func create(t *testing.T, ctrl *driver, name, zone string, mode csi.VolumeCapability_AccessMode_Mode) *csi.Volume {
	t.Helper()
	req := &csi.CreateVolumeRequest{Name: name, VolumeCapabilities: []*csi.VolumeCapability{mountCap(mode)}}
	if zone != "" {
		top := []*csi.Topology{{Segments: map[string]string{ZoneKey: zone}}}
		req.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: top, Preferred: top}
	}
	resp, err := ctrl.CreateVolume(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetVolume()
}

func publish(ctrl *driver, id, node string, mode csi.VolumeCapability_AccessMode_Mode) error {
	_, err := ctrl.ControllerPublishVolume(context.Background(), &csi.ControllerPublishVolumeRequest{
		VolumeId: id, NodeId: node, VolumeCapability: mountCap(mode),
	})
	return err
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("expected %s, got %v", code, err)
	}
}

func TestVolumeIDIsThePVNameWhenSafeElseADigest(t *testing.T) {
	if got := volumeID("pvc-0a1b"); got != "pvc-0a1b" {
		t.Errorf("volumeID(pvc-0a1b) = %q", got)
	}
	for _, name := range []string{"../x", "a/b", "h-abc", ""} {
		if got := volumeID(name); got == name || !validID(got) || got != volumeID(name) {
			t.Errorf("volumeID(%q) = %q: expected a stable digest id", name, got)
		}
	}
}

func TestCreateVolumeIsZonalAndIdempotentByName(t *testing.T) {
	ctrl, _ := cluster(t)
	v := create(t, ctrl, "pvc-1", "zone-b", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	if v.GetAccessibleTopology()[0].GetSegments()[ZoneKey] != "zone-b" || v.GetCapacityBytes() != defaultCapacity {
		t.Fatalf("unexpected volume %v", v)
	}
	again := create(t, ctrl, "pvc-1", "zone-b", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	if again.GetVolumeId() != v.GetVolumeId() {
		t.Fatalf("second CreateVolume gave %s, first %s", again.GetVolumeId(), v.GetVolumeId())
	}
	_, err := ctrl.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
		Name:               "pvc-1",
		CapacityRange:      &csi.CapacityRange{RequiredBytes: 2 * defaultCapacity},
		VolumeCapabilities: []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)},
	})
	wantCode(t, err, codes.AlreadyExists)
}

func TestPickZonePrefersAPreferredZoneThatIsRequisite(t *testing.T) {
	top := func(z string) *csi.Topology { return &csi.Topology{Segments: map[string]string{ZoneKey: z}} }
	zone, err := pickZone(&csi.TopologyRequirement{
		Requisite: []*csi.Topology{top("zone-a"), top("zone-b")},
		Preferred: []*csi.Topology{top("zone-c"), top("zone-b")},
	})
	if err != nil || zone != "zone-b" {
		t.Fatalf("pickZone = %q, %v; expected zone-b", zone, err)
	}
	_, err = pickZone(&csi.TopologyRequirement{Requisite: []*csi.Topology{{Segments: map[string]string{"other": "x"}}}})
	wantCode(t, err, codes.InvalidArgument)
}

func TestSingleNodeVolumeAttachedToOneNodeIsRefusedToAnother(t *testing.T) {
	ctrl, _ := cluster(t)
	id := create(t, ctrl, "pvc-rwo", "zone-a", csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER).GetVolumeId()
	mode := csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER
	if err := publish(ctrl, id, "node-1", mode); err != nil {
		t.Fatal(err)
	}
	if err := publish(ctrl, id, "node-1", mode); err != nil {
		t.Fatalf("publishing again to the same node must succeed, got %v", err)
	}
	wantCode(t, publish(ctrl, id, "node-2", mode), codes.FailedPrecondition)
	_, err := ctrl.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id})
	wantCode(t, err, codes.FailedPrecondition)
	if _, err := ctrl.ControllerUnpublishVolume(context.Background(), &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: "node-1"}); err != nil {
		t.Fatal(err)
	}
	if err := publish(ctrl, id, "node-2", mode); err != nil {
		t.Fatalf("after detaching from node-1, node-2 must attach, got %v", err)
	}
}

func TestMultiNodeVolumeAttachesToSeveralNodes(t *testing.T) {
	ctrl, _ := cluster(t)
	mode := csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	id := create(t, ctrl, "pvc-rwx", "zone-a", mode).GetVolumeId()
	for _, node := range []string{"node-1", "node-2"} {
		if err := publish(ctrl, id, node, mode); err != nil {
			t.Fatalf("attach to %s: %v", node, err)
		}
	}
}

func TestVolumeIsRefusedToANodeOfAnotherZoneOrUnknownNode(t *testing.T) {
	ctrl, _ := cluster(t)
	mode := csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	id := create(t, ctrl, "pvc-z", "zone-a", mode).GetVolumeId()
	wantCode(t, publish(ctrl, id, "node-3", mode), codes.FailedPrecondition)
	wantCode(t, publish(ctrl, id, "node-9", mode), codes.NotFound)
}

func TestNodeStageRefusesAVolumeNotAttachedToItsNode(t *testing.T) {
	ctrl, nodes := cluster(t)
	mode := csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	id := create(t, ctrl, "pvc-s", "zone-a", mode).GetVolumeId()
	if err := publish(ctrl, id, "node-1", mode); err != nil {
		t.Fatal(err)
	}
	_, err := nodes["node-2"].NodeStageVolume(context.Background(), &csi.NodeStageVolumeRequest{
		VolumeId: id, StagingTargetPath: t.TempDir(), VolumeCapability: mountCap(mode),
	})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestNodeGetInfoNamesTheNodeAndItsZone(t *testing.T) {
	_, nodes := cluster(t)
	info, err := nodes["node-3"].NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{})
	if err != nil || info.GetNodeId() != "node-3" || info.GetAccessibleTopology().GetSegments()[ZoneKey] != "zone-b" {
		t.Fatalf("NodeGetInfo = %v, %v", info, err)
	}
}
