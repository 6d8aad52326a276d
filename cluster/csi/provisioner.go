package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-lib-utils/accessmodes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// prefixedParameters are the external-provisioner's own StorageClass keys (secrets, fstype): never the driver's.
const prefixedParameters = "csi.storage.k8s.io/"

// csiProvisioner turns claims of the driver's classes into CreateVolume calls and PVs with spec.csi,
// and deleted PVs into DeleteVolume calls. It implements controller.Provisioner.
type csiProvisioner struct {
	client  csi.ControllerClient
	timeout time.Duration
	// csiNode returns a node's CSINode (nil, nil when it has none); node returns the Node.
	csiNode func(name string) (*storagev1.CSINode, error)
	node    func(name string) (*v1.Node, error)
	// csiNodes lists every CSINode (topology of a claim that names no node).
	csiNodes func() ([]*storagev1.CSINode, error)
}

var _ controller.Provisioner = &csiProvisioner{}

// segmentsOf is the topology of a node for the driver: each of its CSINode topology keys with the
// node's label value. ok is false when the node does not run the driver (or has not been labelled yet).
func (p *csiProvisioner) segmentsOf(nodeName string) (map[string]string, bool, error) {
	cn, err := p.csiNode(nodeName)
	if err != nil {
		return nil, false, err
	}
	var keys []string
	found := false
	if cn != nil {
		for _, d := range cn.Spec.Drivers {
			if d.Name == DriverName {
				found, keys = true, d.TopologyKeys
			}
		}
	}
	if !found {
		return nil, false, nil
	}
	node, err := p.node(nodeName)
	if err != nil {
		return nil, false, err
	}
	segments := map[string]string{}
	for _, k := range keys {
		v, ok := node.Labels[k]
		if !ok {
			return nil, false, nil
		}
		segments[k] = v
	}
	return segments, true, nil
}

// requirement is the claim's accessibility requirement: the selected node's topology
// (WaitForFirstConsumer), or every topology the driver's nodes have, in an order that depends on the
// claim (Immediate binding spreads volumes). ok is false when the selected node lacks the driver.
func (p *csiProvisioner) requirement(opts controller.ProvisionOptions) (*csi.TopologyRequirement, bool, error) {
	if opts.SelectedNodeName != "" {
		segments, ok, err := p.segmentsOf(opts.SelectedNodeName)
		if err != nil || !ok {
			return nil, ok, err
		}
		t := &csi.Topology{Segments: segments}
		return &csi.TopologyRequirement{Requisite: []*csi.Topology{t}, Preferred: []*csi.Topology{t}}, true, nil
	}
	all, err := p.csiNodes()
	if err != nil {
		return nil, false, err
	}
	seen := map[string]map[string]string{}
	for _, cn := range all {
		segments, ok, err := p.segmentsOf(cn.Name)
		if err != nil {
			return nil, false, err
		}
		if ok && len(segments) > 0 {
			seen[fmt.Sprint(segments)] = segments
		}
	}
	if len(seen) == 0 {
		return nil, true, nil
	}
	keys := slices.Sorted(maps.Keys(seen))
	h := fnv.New32a()
	h.Write([]byte(opts.PVC.Namespace + "/" + opts.PVC.Name))
	start := int(h.Sum32() % uint32(len(keys)))
	req := &csi.TopologyRequirement{}
	for i := range keys {
		t := &csi.Topology{Segments: seen[keys[(start+i)%len(keys)]]}
		req.Requisite = append(req.Requisite, t)
		req.Preferred = append(req.Preferred, t)
	}
	return req, true, nil
}

// finalCode: the driver rejected the request and will not change its mind; anything else
// (unavailable, deadline exceeded) may still be creating the volume, so the claim is retried.
func finalCode(err error) bool {
	switch status.Code(err) {
	case codes.Canceled, codes.Unknown, codes.DeadlineExceeded, codes.Unavailable, codes.ResourceExhausted, codes.Aborted:
		return false
	}
	return true
}

// Provision implements controller.Provisioner.
func (p *csiProvisioner) Provision(ctx context.Context, opts controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	claim, class := opts.PVC, opts.StorageClass
	if claim == nil || class == nil {
		return nil, controller.ProvisioningFinished, errors.New("provisioning request without claim or StorageClass")
	}
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == v1.PersistentVolumeBlock {
		return nil, controller.ProvisioningFinished, fmt.Errorf("claim %s/%s asks for a block volume; %s volumes are directories (Filesystem only)",
			claim.Namespace, claim.Name, DriverName)
	}
	mode, err := accessmodes.ToCSIAccessMode(claim.Spec.AccessModes, true)
	if err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("claim %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	request, ok := claim.Spec.Resources.Requests[v1.ResourceStorage]
	if !ok {
		return nil, controller.ProvisioningFinished, fmt.Errorf("claim %s/%s has no storage request", claim.Namespace, claim.Name)
	}
	topology, ok, err := p.requirement(opts)
	if err != nil {
		return nil, controller.ProvisioningNoChange, err
	}
	if !ok {
		// The scheduler picked a node without the driver: ask it to pick again.
		return nil, controller.ProvisioningReschedule, fmt.Errorf("node %s does not run %s (not in its CSINode, or not labelled with the driver's topology yet)",
			opts.SelectedNodeName, DriverName)
	}
	params := map[string]string{}
	for k, v := range class.Parameters {
		if !strings.HasPrefix(k, prefixedParameters) {
			params[k] = v
		}
	}
	req := &csi.CreateVolumeRequest{
		Name:          opts.PVName,
		CapacityRange: &csi.CapacityRange{RequiredBytes: request.Value()},
		VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{MountFlags: class.MountOptions}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
		}},
		Parameters:                params,
		AccessibilityRequirements: topology,
	}
	if limit, ok := claim.Spec.Resources.Limits[v1.ResourceStorage]; ok {
		req.CapacityRange.LimitBytes = limit.Value()
	}
	callCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	resp, err := p.client.CreateVolume(callCtx, req)
	if err != nil {
		state := controller.ProvisioningInBackground
		if finalCode(err) {
			state = controller.ProvisioningFinished
		}
		return nil, state, fmt.Errorf("CreateVolume %s: %w", opts.PVName, err)
	}
	pv := buildPV(opts, resp.GetVolume())
	klog.FromContext(ctx).Info("Provisioned volume", "PV", pv.Name, "PVC", klog.KObj(claim), "volume", resp.GetVolume().GetVolumeId(),
		"topology", resp.GetVolume().GetAccessibleTopology())
	return pv, controller.ProvisioningFinished, nil
}

// buildPV is the PV for a created volume: spec.csi, the claim's modes, the volume's size and topology.
func buildPV(opts controller.ProvisionOptions, vol *csi.Volume) *v1.PersistentVolume {
	reclaim := v1.PersistentVolumeReclaimDelete
	if opts.StorageClass.ReclaimPolicy != nil {
		reclaim = *opts.StorageClass.ReclaimPolicy
	}
	mode := v1.PersistentVolumeFilesystem
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   slices.Clone(opts.PVC.Spec.AccessModes),
			MountOptions:                  slices.Clone(opts.StorageClass.MountOptions),
			Capacity:                      v1.ResourceList{v1.ResourceStorage: *resource.NewQuantity(vol.GetCapacityBytes(), resource.BinarySI)},
			VolumeMode:                    &mode,
			PersistentVolumeSource: v1.PersistentVolumeSource{
				CSI: &v1.CSIPersistentVolumeSource{
					Driver:           DriverName,
					VolumeHandle:     vol.GetVolumeId(),
					FSType:           "",
					VolumeAttributes: vol.GetVolumeContext(),
				},
			},
		},
	}
	var terms []v1.NodeSelectorTerm
	for _, t := range vol.GetAccessibleTopology() {
		var exprs []v1.NodeSelectorRequirement
		for _, k := range slices.Sorted(maps.Keys(t.GetSegments())) {
			exprs = append(exprs, v1.NodeSelectorRequirement{Key: k, Operator: v1.NodeSelectorOpIn, Values: []string{t.GetSegments()[k]}})
		}
		if len(exprs) > 0 {
			terms = append(terms, v1.NodeSelectorTerm{MatchExpressions: exprs})
		}
	}
	if len(terms) > 0 {
		pv.Spec.NodeAffinity = &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: terms}}
	}
	return pv
}

// Delete implements controller.Provisioner.
func (p *csiProvisioner) Delete(ctx context.Context, pv *v1.PersistentVolume) error {
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != DriverName {
		return &controller.IgnoredError{Reason: fmt.Sprintf("PV %s is not a %s volume", pv.Name, DriverName)}
	}
	callCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if _, err := p.client.DeleteVolume(callCtx, &csi.DeleteVolumeRequest{VolumeId: pv.Spec.CSI.VolumeHandle}); err != nil {
		return fmt.Errorf("DeleteVolume %s (PV %s): %w", pv.Spec.CSI.VolumeHandle, pv.Name, err)
	}
	klog.FromContext(ctx).Info("Deleted volume", "PV", pv.Name, "volume", pv.Spec.CSI.VolumeHandle)
	return nil
}

// notFoundAsNil turns a lister's NotFound into (nil, nil).
func notFoundAsNil[T any](obj *T, err error) (*T, error) {
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return obj, err
}

func sortedCSINodes(items []*storagev1.CSINode) []*storagev1.CSINode {
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	return items
}
