package main

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// inProcess calls a driver's controller service directly (no socket).
type inProcess struct {
	csi.ControllerClient
	d *driver
}

func (c inProcess) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest, _ ...grpc.CallOption) (*csi.CreateVolumeResponse, error) {
	return c.d.CreateVolume(ctx, req)
}

func (c inProcess) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest, _ ...grpc.CallOption) (*csi.DeleteVolumeResponse, error) {
	return c.d.DeleteVolume(ctx, req)
}

func provisionerFor(t *testing.T, csiNodes map[string]*storagev1.CSINode, nodes map[string]*v1.Node) (*csiProvisioner, *driver) {
	t.Helper()
	ctrl, err := newDriver(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return &csiProvisioner{
		client:  inProcess{d: ctrl},
		timeout: time.Second,
		csiNode: func(name string) (*storagev1.CSINode, error) { return csiNodes[name], nil },
		node:    func(name string) (*v1.Node, error) { return nodes[name], nil },
		csiNodes: func() ([]*storagev1.CSINode, error) {
			var out []*storagev1.CSINode
			for _, cn := range csiNodes {
				out = append(out, cn)
			}
			return sortedCSINodes(out), nil
		},
	}, ctrl
}

func claimOptions(node string) controller.ProvisionOptions {
	return controller.ProvisionOptions{
		PVName:           "pvc-123",
		SelectedNodeName: node,
		StorageClass:     &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "ordinal-csi"}, Provisioner: DriverName},
		PVC: &v1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data-db-0", Namespace: "ns"},
			Spec: v1.PersistentVolumeClaimSpec{
				AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
				Resources:   v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("64Mi")}},
			},
		},
	}
}

func withDriver(name string) *storagev1.CSINode {
	return &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{Name: DriverName, NodeID: name, TopologyKeys: []string{ZoneKey}}}},
	}
}

func labelled(name, zone string) *v1.Node {
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ZoneKey: zone}}}
}

func TestProvisionMakesACSIVolumeInTheSelectedNodesZone(t *testing.T) {
	p, _ := provisionerFor(t, map[string]*storagev1.CSINode{"n1": withDriver("n1")}, map[string]*v1.Node{"n1": labelled("n1", "zone-a")})
	pv, state, err := p.Provision(context.Background(), claimOptions("n1"))
	if err != nil || state != controller.ProvisioningFinished {
		t.Fatalf("Provision = %v, %v", state, err)
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != DriverName || pv.Spec.CSI.VolumeHandle != "pvc-123" || pv.Spec.CSI.FSType != "" {
		t.Fatalf("unexpected spec.csi %+v", pv.Spec.CSI)
	}
	if got := pv.Spec.Capacity[v1.ResourceStorage]; got.Value() != 64<<20 {
		t.Errorf("capacity %s, expected 64Mi", got.String())
	}
	term := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]
	if term.Key != ZoneKey || term.Values[0] != "zone-a" {
		t.Errorf("node affinity %+v, expected %s in [zone-a]", term, ZoneKey)
	}
	if err := p.Delete(context.Background(), pv); err != nil {
		t.Fatal(err)
	}
}

func TestProvisionAsksToRescheduleWhenTheNodeHasNoDriver(t *testing.T) {
	p, _ := provisionerFor(t, map[string]*storagev1.CSINode{"n2": {ObjectMeta: metav1.ObjectMeta{Name: "n2"}}}, map[string]*v1.Node{"n2": labelled("n2", "zone-a")})
	for _, node := range []string{"n2", "kwok-1"} {
		_, state, err := p.Provision(context.Background(), claimOptions(node))
		if state != controller.ProvisioningReschedule || err == nil {
			t.Fatalf("node %s: Provision = %v, %v; expected Reschedule with a reason", node, state, err)
		}
	}
}

func TestDeleteIgnoresOtherDriversVolumes(t *testing.T) {
	p, _ := provisionerFor(t, nil, nil)
	pv := &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	if _, ok := p.Delete(context.Background(), pv).(*controller.IgnoredError); !ok {
		t.Fatal("expected IgnoredError for a PV without spec.csi")
	}
}
