package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

func testOptions(params map[string]string, node string) controller.ProvisionOptions {
	retain := v1.PersistentVolumeReclaimRetain
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	fs := v1.PersistentVolumeFilesystem
	return controller.ProvisionOptions{
		StorageClass: &storagev1.StorageClass{
			ObjectMeta:        metav1.ObjectMeta{Name: "local"},
			Provisioner:       "ordinal.dev/hostpath",
			Parameters:        params,
			ReclaimPolicy:     &retain,
			VolumeBindingMode: &wffc,
		},
		PVName: "pvc-1234",
		PVC: &v1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data-web-0", Namespace: "ns1", UID: "1234"},
			Spec: v1.PersistentVolumeClaimSpec{
				AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
				Resources: v1.VolumeResourceRequirements{
					Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
				},
				VolumeMode: &fs,
			},
		},
		SelectedNodeName: node,
	}
}

func newTestProvisioner(t *testing.T) *hostPathProvisioner {
	t.Helper()
	p, err := newHostPathProvisioner(filepath.Join(t.TempDir(), "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkCommonShape(t *testing.T, p *hostPathProvisioner, pv *v1.PersistentVolume) {
	t.Helper()
	if pv.Name != "pvc-1234" {
		t.Errorf("name = %q", pv.Name)
	}
	if pv.Labels[ProvisionedByKey] != ProvisionedByValue || pv.Annotations[ProvisionedByKey] != ProvisionedByValue {
		t.Errorf("missing %s label/annotation: labels=%v annotations=%v", ProvisionedByKey, pv.Labels, pv.Annotations)
	}
	hp := pv.Spec.HostPath
	if hp == nil {
		t.Fatal("no hostPath source")
	}
	if want := filepath.Join(p.root, "pvc-1234"); hp.Path != want {
		t.Errorf("hostPath.path = %q, want %q", hp.Path, want)
	}
	if hp.Type == nil || *hp.Type != v1.HostPathDirectoryOrCreate {
		t.Errorf("hostPath.type = %v, want DirectoryOrCreate", hp.Type)
	}
	if got := pv.Spec.Capacity[v1.ResourceStorage]; got.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("capacity = %s, want 1Gi", got.String())
	}
	if len(pv.Spec.AccessModes) != 1 || pv.Spec.AccessModes[0] != v1.ReadWriteOnce {
		t.Errorf("accessModes = %v", pv.Spec.AccessModes)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != v1.PersistentVolumeReclaimRetain {
		t.Errorf("reclaimPolicy = %q, want Retain (from the class)", pv.Spec.PersistentVolumeReclaimPolicy)
	}
	st, err := os.Stat(hp.Path)
	if err != nil {
		t.Fatalf("volume directory: %v", err)
	}
	if !st.IsDir() || st.Mode().Perm() != 0o777 {
		t.Errorf("volume directory mode = %v, want drwxrwxrwx", st.Mode())
	}
}

func TestProvisionPinned(t *testing.T) {
	p := newTestProvisioner(t)
	pv, state, err := p.Provision(context.Background(), testOptions(map[string]string{"nodePinned": "true"}, "node-a"))
	if err != nil || state != controller.ProvisioningFinished {
		t.Fatalf("Provision: state=%q err=%v", state, err)
	}
	checkCommonShape(t, p, pv)
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) != 1 {
		t.Fatalf("nodeAffinity = %+v, want one required term", na)
	}
	exprs := na.Required.NodeSelectorTerms[0].MatchExpressions
	if len(exprs) != 1 || exprs[0].Key != "kubernetes.io/hostname" || exprs[0].Operator != v1.NodeSelectorOpIn ||
		len(exprs[0].Values) != 1 || exprs[0].Values[0] != "node-a" {
		t.Errorf("matchExpressions = %+v, want kubernetes.io/hostname In [node-a]", exprs)
	}
}

func TestProvisionZonePinned(t *testing.T) {
	p := newTestProvisioner(t)
	p.zoneOf = func(node string) (string, error) { return map[string]string{"node-a": "zone-b"}[node], nil }
	pv, _, err := p.Provision(context.Background(), testOptions(map[string]string{"zonePinned": "true"}, "node-a"))
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	checkCommonShape(t, p, pv)
	exprs := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions
	if len(exprs) != 1 || exprs[0].Key != "topology.kubernetes.io/zone" || exprs[0].Values[0] != "zone-b" {
		t.Errorf("matchExpressions = %+v, want topology.kubernetes.io/zone In [zone-b]", exprs)
	}
	if _, _, err := p.Provision(context.Background(), testOptions(map[string]string{"zonePinned": "true"}, "node-z")); err == nil ||
		!strings.Contains(err.Error(), "has no topology.kubernetes.io/zone label") {
		t.Errorf("node without a zone: err = %v", err)
	}
}

func TestProvisionShared(t *testing.T) {
	for _, params := range []map[string]string{nil, {"nodePinned": "false"}} {
		p := newTestProvisioner(t)
		pv, _, err := p.Provision(context.Background(), testOptions(params, "node-a"))
		if err != nil {
			t.Fatalf("params %v: %v", params, err)
		}
		checkCommonShape(t, p, pv)
		if pv.Spec.NodeAffinity != nil {
			t.Errorf("params %v: nodeAffinity = %+v, want none", params, pv.Spec.NodeAffinity)
		}
	}
}

func TestProvisionErrors(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]string
		node   string
		want   string
	}{
		{"unknown parameter", map[string]string{"nodePinned": "true", "fsType": "ext4"}, "node-a", `"fsType"`},
		{"bad nodePinned", map[string]string{"nodePinned": "yes"}, "node-a", `got "yes"`},
		{"pinned without node", map[string]string{"nodePinned": "true"}, "", "no node was selected"},
		{"node and zone", map[string]string{"nodePinned": "true", "zonePinned": "true"}, "node-a", "exclude each other"},
		{"zone without zones", map[string]string{"zonePinned": "true"}, "node-a", "knows no node zones"},
	}
	for _, c := range cases {
		p := newTestProvisioner(t)
		pv, _, err := p.Provision(context.Background(), testOptions(c.params, c.node))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %s", c.name, err, c.want)
		}
		if pv != nil {
			t.Errorf("%s: got a PV", c.name)
		}
		if _, statErr := os.Stat(filepath.Join(p.root, "pvc-1234")); !os.IsNotExist(statErr) {
			t.Errorf("%s: volume directory was created", c.name)
		}
	}
}

func TestDelete(t *testing.T) {
	p := newTestProvisioner(t)
	pv, _, err := p.Provision(context.Background(), testOptions(nil, ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pv.Spec.HostPath.Path, "data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(context.Background(), pv); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Stat(pv.Spec.HostPath.Path); !os.IsNotExist(err) {
		t.Errorf("directory still exists: %v", err)
	}
	// Deleting again (directory already gone) succeeds.
	if err := p.Delete(context.Background(), pv); err != nil {
		t.Errorf("second Delete: %v", err)
	}

	outside := t.TempDir()
	for _, path := range []string{outside, p.root, filepath.Join(p.root, "a", "b"), p.root + "/../x", "relative/x"} {
		bad := pv.DeepCopy()
		bad.Spec.HostPath.Path = path
		if err := p.Delete(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("Delete(%q) err = %v, want refusal", path, err)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("directory outside root was touched: %v", err)
	}
}
