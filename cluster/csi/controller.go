package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

func (d *driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
		csi.ControllerServiceCapability_RPC_PUBLISH_READONLY,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
		csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}},
		})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

// capacity picks a volume's size from a request's range: the required bytes, else the
// default (capped by the limit).
func capacity(r *csi.CapacityRange) (int64, error) {
	required, limit := r.GetRequiredBytes(), r.GetLimitBytes()
	if required < 0 || limit < 0 {
		return 0, status.Errorf(codes.InvalidArgument, "capacity range must not be negative, got required %d, limit %d", required, limit)
	}
	if limit > 0 && required > limit {
		return 0, status.Errorf(codes.OutOfRange, "required bytes %d exceed the limit %d", required, limit)
	}
	switch {
	case required > 0:
		return required, nil
	case limit > 0 && limit < defaultCapacity:
		return limit, nil
	}
	return defaultCapacity, nil
}

// pickZone chooses the volume's zone from the accessibility requirements: the first preferred
// zone that is also requisite, else the first requisite one; "" when nothing is asked.
func pickZone(req *csi.TopologyRequirement) (string, error) {
	if req == nil {
		return "", nil
	}
	allowed := map[string]bool{}
	var first string
	for _, t := range req.GetRequisite() {
		if z := t.GetSegments()[ZoneKey]; z != "" {
			allowed[z] = true
			if first == "" {
				first = z
			}
		}
	}
	for _, t := range req.GetPreferred() {
		if z := t.GetSegments()[ZoneKey]; z != "" && (len(allowed) == 0 || allowed[z]) {
			return z, nil
		}
	}
	if first != "" {
		return first, nil
	}
	if len(req.GetRequisite()) > 0 || len(req.GetPreferred()) > 0 {
		return "", status.Errorf(codes.InvalidArgument, "accessibility requirements name no %s segment: %v", ZoneKey, req)
	}
	return "", nil
}

func (rec *volumeRecord) csiVolume() *csi.Volume {
	v := &csi.Volume{VolumeId: rec.ID, CapacityBytes: rec.CapacityBytes, VolumeContext: map[string]string{}}
	if rec.Zone != "" {
		v.AccessibleTopology = []*csi.Topology{{Segments: map[string]string{ZoneKey: rec.Zone}}}
	}
	return v
}

func (d *driver) CreateVolume(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	if req.GetVolumeContentSource() != nil {
		return nil, status.Error(codes.InvalidArgument, "volume content sources (snapshots, clones) are not supported")
	}
	if len(req.GetMutableParameters()) > 0 {
		return nil, status.Error(codes.InvalidArgument, "mutable parameters are not supported")
	}
	for k := range req.GetParameters() {
		return nil, status.Errorf(codes.InvalidArgument, "unknown parameter %q: ordinal-csi takes no StorageClass parameters", k)
	}
	size, err := capacity(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	zone, err := pickZone(req.GetAccessibilityRequirements())
	if err != nil {
		return nil, err
	}
	id := volumeID(req.GetName())

	d.mu.Lock()
	defer d.mu.Unlock()
	existing, err := d.store.volume(id)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if existing != nil {
		required, limit := req.GetCapacityRange().GetRequiredBytes(), req.GetCapacityRange().GetLimitBytes()
		switch {
		case existing.Name != req.GetName():
			return nil, status.Errorf(codes.AlreadyExists, "volume id %s belongs to volume %q", id, existing.Name)
		case existing.CapacityBytes < required || (limit > 0 && existing.CapacityBytes > limit):
			return nil, status.Errorf(codes.AlreadyExists, "volume %q exists with %d bytes, outside the requested range [%d, %d]",
				req.GetName(), existing.CapacityBytes, required, limit)
		}
		return &csi.CreateVolumeResponse{Volume: existing.csiVolume()}, nil
	}
	rec := volumeRecord{
		ID:            id,
		Name:          req.GetName(),
		CapacityBytes: size,
		Zone:          zone,
		AccessMode:    req.GetVolumeCapabilities()[0].GetAccessMode().GetMode().String(),
	}
	if err := d.store.createVolume(rec); err != nil {
		return nil, status.Errorf(codes.Internal, "creating volume %s: %v", id, err)
	}
	klog.InfoS("Created volume", "name", rec.Name, "id", id, "bytes", size, "zone", zone, "mode", rec.AccessMode)
	return &csi.CreateVolumeResponse{Volume: rec.csiVolume()}, nil
}

func (d *driver) DeleteVolume(_ context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id is required")
	}
	if !validID(id) {
		return &csi.DeleteVolumeResponse{}, nil // no such volume can exist: already deleted
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	attached, err := d.store.attachments(id)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if len(attached) > 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is still attached to %v", id, sortedKeys(attached))
	}
	if err := d.store.deleteVolume(id); err != nil {
		return nil, status.Errorf(codes.Internal, "deleting volume %s: %v", id, err)
	}
	klog.InfoS("Deleted volume", "id", id)
	return &csi.DeleteVolumeResponse{}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ControllerPublishVolume attaches a volume to a node: a record under attachments/. A volume in a
// single-node mode attached to one node is refused to every other (FAILED_PRECONDITION) until
// ControllerUnpublishVolume detaches it: the attachment the external-attacher reports is real.
func (d *driver) ControllerPublishVolume(_ context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	id, nodeID := req.GetVolumeId(), req.GetNodeId()
	switch {
	case id == "":
		return nil, status.Error(codes.InvalidArgument, "volume id is required")
	case nodeID == "":
		return nil, status.Error(codes.InvalidArgument, "node id is required")
	case req.GetVolumeCapability() == nil:
		return nil, status.Error(codes.InvalidArgument, "volume capability is required")
	}
	if why := checkCapability(req.GetVolumeCapability()); why != "" {
		return nil, status.Error(codes.InvalidArgument, why)
	}
	mode := req.GetVolumeCapability().GetAccessMode().GetMode()

	d.mu.Lock()
	defer d.mu.Unlock()
	vol, err := d.store.volume(id)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if vol == nil {
		return nil, status.Errorf(codes.NotFound, "volume %s does not exist", id)
	}
	node, err := d.store.node(nodeID)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if node == nil {
		return nil, status.Errorf(codes.NotFound, "node %s does not run %s", nodeID, DriverName)
	}
	if vol.Zone != "" && node.Zone != vol.Zone {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is in zone %s, node %s in zone %q", id, vol.Zone, nodeID, node.Zone)
	}
	attached, err := d.store.attachments(id)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	want := attachmentRecord{Node: nodeID, Readonly: req.GetReadonly(), Mode: mode.String()}
	if have, ok := attached[nodeID]; ok {
		if have != want {
			return nil, status.Errorf(codes.AlreadyExists, "volume %s is attached to %s as %+v, asked for %+v", id, nodeID, have, want)
		}
		return &csi.ControllerPublishVolumeResponse{PublishContext: map[string]string{}}, nil
	}
	for other, rec := range attached {
		otherMode := csi.VolumeCapability_AccessMode_Mode(csi.VolumeCapability_AccessMode_Mode_value[rec.Mode])
		if singleNode(mode) || singleNode(otherMode) {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s (%s) is attached to node %s; detach it there first", id, mode, other)
		}
		if mode == csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER && !want.Readonly && !rec.Readonly {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s already has a writer on node %s", id, other)
		}
	}
	if err := d.store.attach(id, want); err != nil {
		return nil, status.Errorf(codes.Internal, "attaching %s to %s: %v", id, nodeID, err)
	}
	klog.InfoS("Attached volume", "id", id, "node", nodeID, "readonly", want.Readonly, "mode", want.Mode)
	return &csi.ControllerPublishVolumeResponse{PublishContext: map[string]string{}}, nil
}

func (d *driver) ControllerUnpublishVolume(_ context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id is required")
	}
	if !validID(id) {
		return &csi.ControllerUnpublishVolumeResponse{}, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	attached, err := d.store.attachments(id)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	for node := range attached {
		if req.GetNodeId() != "" && node != req.GetNodeId() {
			continue
		}
		if err := d.store.detach(id, node); err != nil {
			return nil, status.Errorf(codes.Internal, "detaching %s from %s: %v", id, node, err)
		}
		klog.InfoS("Detached volume", "id", id, "node", node)
	}
	return &csi.ControllerUnpublishVolumeResponse{}, nil
}

func (d *driver) ValidateVolumeCapabilities(_ context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id is required")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume capabilities are required")
	}
	vol, err := d.store.volume(id)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if vol == nil {
		return nil, status.Errorf(codes.NotFound, "volume %s does not exist", id)
	}
	for _, c := range req.GetVolumeCapabilities() {
		if why := checkCapability(c); why != "" {
			return &csi.ValidateVolumeCapabilitiesResponse{Message: why}, nil
		}
	}
	if len(req.GetParameters()) > 0 || len(req.GetMutableParameters()) > 0 {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: "ordinal-csi takes no parameters"}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
	}}, nil
}

// ListVolumes pages through the volumes in id order; the token is the index of the next entry.
func (d *driver) ListVolumes(_ context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	if req.GetMaxEntries() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "max_entries must not be negative, got %d", req.GetMaxEntries())
	}
	vols, err := d.store.volumes()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	start := 0
	if tok := req.GetStartingToken(); tok != "" {
		start, err = strconv.Atoi(tok)
		if err != nil || start < 0 || start > len(vols) {
			return nil, status.Errorf(codes.Aborted, "starting token %q is not valid (have %d volumes)", tok, len(vols))
		}
	}
	end := len(vols)
	if n := int(req.GetMaxEntries()); n > 0 && start+n < end {
		end = start + n
	}
	resp := &csi.ListVolumesResponse{}
	for i := start; i < end; i++ {
		resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{Volume: vols[i].csiVolume()})
	}
	if end < len(vols) {
		resp.NextToken = fmt.Sprint(end)
	}
	return resp, nil
}
