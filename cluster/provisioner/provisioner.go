package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

const (
	// ProvisionedByKey is set as a label and as an annotation on every PV we create.
	ProvisionedByKey = "ordinal.dev/provisioned-by"
	// ProvisionedByValue is the value of ProvisionedByKey.
	ProvisionedByValue = "ordinal-hostpath"

	// ParamNodePinned "true": the PV gets a required node affinity to the node
	// the scheduler selected (WaitForFirstConsumer), like a local disk.
	ParamNodePinned = "nodePinned"
	// ParamZonePinned "true": the PV gets a required affinity to the zone of
	// the selected node, like a cloud block volume. Absent or "false" for both:
	// no affinity, like network storage.
	ParamZonePinned = "zonePinned"

	hostnameLabel = "kubernetes.io/hostname"
	zoneLabel     = "topology.kubernetes.io/zone"
)

// pinning is where a volume may be used: anywhere, on one node, or in one zone.
type pinning int

const (
	pinNone pinning = iota
	pinNode
	pinZone
)

// hostPathProvisioner makes one directory per volume under root.
// It implements controller.Provisioner.
type hostPathProvisioner struct {
	root string // absolute, cleaned
	// zoneOf returns the zone label of a node (zone-pinned classes); nil: no zones known.
	zoneOf func(node string) (string, error)
}

var _ controller.Provisioner = &hostPathProvisioner{}

func newHostPathProvisioner(root string) (*hostPathProvisioner, error) {
	if root == "" {
		return nil, errors.New("--root must not be empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving --root %q: %w", root, err)
	}
	abs = filepath.Clean(abs)
	if abs == "/" {
		return nil, errors.New("--root must not be /")
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("creating --root %q: %w", abs, err)
	}
	return &hostPathProvisioner{root: abs}, nil
}

// parseParameters validates the StorageClass parameters and says how volumes
// of this class are pinned.
func parseParameters(params map[string]string) (pinning, error) {
	var unknown []string
	for k := range params {
		if k != ParamNodePinned && k != ParamZonePinned {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return pinNone, fmt.Errorf("unknown StorageClass parameter(s) %s: the supported parameters are %q and %q",
			strings.Join(quoteAll(unknown), ", "), ParamNodePinned, ParamZonePinned)
	}
	node, err := boolParam(params, ParamNodePinned)
	if err != nil {
		return pinNone, err
	}
	zone, err := boolParam(params, ParamZonePinned)
	if err != nil {
		return pinNone, err
	}
	switch {
	case node && zone:
		return pinNone, fmt.Errorf("StorageClass parameters %q and %q exclude each other", ParamNodePinned, ParamZonePinned)
	case node:
		return pinNode, nil
	case zone:
		return pinZone, nil
	}
	return pinNone, nil
}

func boolParam(params map[string]string, key string) (bool, error) {
	switch v, ok := params[key]; {
	case !ok, v == "false":
		return false, nil
	case v == "true":
		return true, nil
	default:
		return false, fmt.Errorf("StorageClass parameter %q must be \"true\" or \"false\", got %q", key, v)
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// volumePath is the directory backing the PV named pvName.
func (p *hostPathProvisioner) volumePath(pvName string) (string, error) {
	if pvName == "" || pvName == "." || pvName == ".." || strings.ContainsRune(pvName, '/') {
		return "", fmt.Errorf("invalid PV name %q", pvName)
	}
	return filepath.Join(p.root, pvName), nil
}

// buildPV returns the PV for a claim; it has no side effects.
func (p *hostPathProvisioner) buildPV(opts controller.ProvisionOptions) (*v1.PersistentVolume, error) {
	if opts.PVC == nil {
		return nil, errors.New("no PersistentVolumeClaim in provisioning request")
	}
	if opts.StorageClass == nil {
		return nil, errors.New("no StorageClass in provisioning request")
	}
	pin, err := parseParameters(opts.StorageClass.Parameters)
	if err != nil {
		return nil, err
	}
	if pin != pinNone && opts.SelectedNodeName == "" {
		return nil, fmt.Errorf("StorageClass %q pins volumes but no node was selected for claim %s/%s: "+
			"use volumeBindingMode WaitForFirstConsumer so the scheduler picks a node first",
			opts.StorageClass.Name, opts.PVC.Namespace, opts.PVC.Name)
	}
	key, value := hostnameLabel, opts.SelectedNodeName
	if pin == pinZone {
		if p.zoneOf == nil {
			return nil, fmt.Errorf("StorageClass %q is zone-pinned but the provisioner knows no node zones", opts.StorageClass.Name)
		}
		zone, err := p.zoneOf(opts.SelectedNodeName)
		if err != nil {
			return nil, fmt.Errorf("zone of node %q: %w", opts.SelectedNodeName, err)
		}
		if zone == "" {
			return nil, fmt.Errorf("node %q has no %s label: a zone-pinned volume cannot be placed", opts.SelectedNodeName, zoneLabel)
		}
		key, value = zoneLabel, zone
	}
	path, err := p.volumePath(opts.PVName)
	if err != nil {
		return nil, err
	}
	capacity, ok := opts.PVC.Spec.Resources.Requests[v1.ResourceStorage]
	if !ok {
		return nil, fmt.Errorf("claim %s/%s has no storage request", opts.PVC.Namespace, opts.PVC.Name)
	}
	reclaim := v1.PersistentVolumeReclaimDelete
	if opts.StorageClass.ReclaimPolicy != nil {
		reclaim = *opts.StorageClass.ReclaimPolicy
	}
	hostPathType := v1.HostPathDirectoryOrCreate

	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        opts.PVName,
			Labels:      map[string]string{ProvisionedByKey: ProvisionedByValue},
			Annotations: map[string]string{ProvisionedByKey: ProvisionedByValue},
		},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   append([]v1.PersistentVolumeAccessMode(nil), opts.PVC.Spec.AccessModes...),
			Capacity:                      v1.ResourceList{v1.ResourceStorage: capacity.DeepCopy()},
			VolumeMode:                    opts.PVC.Spec.VolumeMode,
			PersistentVolumeSource: v1.PersistentVolumeSource{
				HostPath: &v1.HostPathVolumeSource{Path: path, Type: &hostPathType},
			},
		},
	}
	if pin != pinNone {
		pv.Spec.NodeAffinity = &v1.VolumeNodeAffinity{
			Required: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{
					MatchExpressions: []v1.NodeSelectorRequirement{{
						Key:      key,
						Operator: v1.NodeSelectorOpIn,
						Values:   []string{value},
					}},
				}},
			},
		}
	}
	return pv, nil
}

// Provision implements controller.Provisioner.
func (p *hostPathProvisioner) Provision(ctx context.Context, opts controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	logger := klog.FromContext(ctx)
	pv, err := p.buildPV(opts)
	if err != nil {
		// Nothing was created, so the failure is final for this attempt; the
		// library records a ProvisioningFailed event on the claim and retries
		// with backoff.
		return nil, controller.ProvisioningFinished, err
	}
	path := pv.Spec.HostPath.Path
	if err := os.Mkdir(path, 0o777); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, controller.ProvisioningFinished, fmt.Errorf("creating volume directory %q: %w", path, err)
	}
	// Mkdir's mode is filtered by the umask; containers with any uid must be able to write.
	if err := os.Chmod(path, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("chmod volume directory %q: %w", path, err)
	}
	pinnedTo := "<none>"
	if a := pv.Spec.NodeAffinity; a != nil {
		pinnedTo = a.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0]
	}
	logger.Info("Provisioned volume", "PV", pv.Name, "PVC", klog.KObj(opts.PVC), "path", path, "pinnedTo", pinnedTo)
	return pv, controller.ProvisioningFinished, nil
}

// Delete implements controller.Provisioner. It removes the volume directory,
// and refuses to touch anything that is not a direct child of root.
func (p *hostPathProvisioner) Delete(ctx context.Context, pv *v1.PersistentVolume) error {
	logger := klog.FromContext(ctx)
	if pv.Spec.HostPath == nil {
		return fmt.Errorf("PV %s is not a hostPath volume; refusing to delete", pv.Name)
	}
	path, err := p.checkUnderRoot(pv.Spec.HostPath.Path)
	if err != nil {
		return fmt.Errorf("PV %s: %w", pv.Name, err)
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("removing volume directory %q: %w", path, err)
	}
	logger.Info("Deleted volume", "PV", pv.Name, "path", path)
	return nil
}

// checkUnderRoot returns the cleaned path if it is a direct child of root.
func (p *hostPathProvisioner) checkUnderRoot(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("path %q is not absolute; refusing to delete", path)
	}
	clean := filepath.Clean(path)
	if filepath.Dir(clean) != p.root {
		return "", fmt.Errorf("path %q is not directly under root %q; refusing to delete", path, p.root)
	}
	base := filepath.Base(clean)
	if base == "." || base == ".." || base == "/" {
		return "", fmt.Errorf("path %q is not a volume directory; refusing to delete", path)
	}
	return clean, nil
}
