package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	"k8s.io/mount-utils"
)

func (d *driver) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	resp := &csi.NodeGetInfoResponse{NodeId: d.nodeID}
	if d.zone != "" {
		resp.AccessibleTopology = &csi.Topology{Segments: map[string]string{ZoneKey: d.zone}}
	}
	return resp, nil
}

func (d *driver) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	var caps []*csi.NodeServiceCapability
	for _, t := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		caps = append(caps, &csi.NodeServiceCapability{
			Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}},
		})
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

// isMounted asks the mount table (not a device comparison: a bind mount of a directory on the
// same filesystem has the same device as its parent).
func (d *driver) isMounted(path string) (bool, error) {
	mounted, err := d.mounter.IsMountPoint(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return mounted, err
}

// NodeStageVolume bind-mounts the volume's directory at the staging path, once the volume is
// attached to this node: a node the controller has not published the volume to cannot stage it.
func (d *driver) NodeStageVolume(_ context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	id, staging := req.GetVolumeId(), req.GetStagingTargetPath()
	switch {
	case id == "":
		return nil, status.Error(codes.InvalidArgument, "volume id is required")
	case staging == "":
		return nil, status.Error(codes.InvalidArgument, "staging target path is required")
	case req.GetVolumeCapability() == nil:
		return nil, status.Error(codes.InvalidArgument, "volume capability is required")
	}
	if why := checkCapability(req.GetVolumeCapability()); why != "" {
		return nil, status.Error(codes.InvalidArgument, why)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	vol, err := d.store.volume(id)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if vol == nil {
		return nil, status.Errorf(codes.NotFound, "volume %s does not exist", id)
	}
	attached, err := d.store.attachments(id)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	att, ok := attached[d.nodeID]
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is not attached to node %s (attached to %v)", id, d.nodeID, sortedKeys(attached))
	}
	mounted, err := d.isMounted(staging)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "checking %s: %v", staging, err)
	}
	if mounted {
		return &csi.NodeStageVolumeResponse{}, nil
	}
	if err := os.MkdirAll(staging, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "creating staging path %s: %v", staging, err)
	}
	options := []string{"bind"}
	if att.Readonly || readerOnly(req.GetVolumeCapability().GetAccessMode().GetMode()) {
		options = append(options, "ro")
	}
	if err := d.mounter.Mount(d.store.dataDir(id), staging, "", options); err != nil {
		return nil, status.Errorf(codes.Internal, "bind-mounting volume %s at %s: %v", id, staging, err)
	}
	klog.InfoS("Staged volume", "id", id, "path", staging, "options", options)
	return &csi.NodeStageVolumeResponse{}, nil
}

func (d *driver) NodeUnstageVolume(_ context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	id, staging := req.GetVolumeId(), req.GetStagingTargetPath()
	switch {
	case id == "":
		return nil, status.Error(codes.InvalidArgument, "volume id is required")
	case staging == "":
		return nil, status.Error(codes.InvalidArgument, "staging target path is required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.unmountAll(staging); err != nil {
		return nil, status.Errorf(codes.Internal, "unmounting %s: %v", staging, err)
	}
	klog.InfoS("Unstaged volume", "id", id, "path", staging)
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// unmountAll unmounts path until it is no mount point (a repeated stage would have stacked mounts).
func (d *driver) unmountAll(path string) error {
	for range 8 {
		mounted, err := d.isMounted(path)
		if err != nil || !mounted {
			return err
		}
		if err := d.mounter.Unmount(path); err != nil {
			return err
		}
	}
	return errors.New("still mounted after 8 unmounts")
}

func (d *driver) NodePublishVolume(_ context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	id, target, staging := req.GetVolumeId(), req.GetTargetPath(), req.GetStagingTargetPath()
	switch {
	case id == "":
		return nil, status.Error(codes.InvalidArgument, "volume id is required")
	case target == "":
		return nil, status.Error(codes.InvalidArgument, "target path is required")
	case req.GetVolumeCapability() == nil:
		return nil, status.Error(codes.InvalidArgument, "volume capability is required")
	case staging == "":
		return nil, status.Error(codes.FailedPrecondition, "staging target path is required (the driver stages volumes)")
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
	staged, err := d.isMounted(staging)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "checking %s: %v", staging, err)
	}
	if !staged {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is not staged at %s", id, staging)
	}
	rec, err := d.store.published(d.nodeID, id)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if rec == nil {
		rec = &publishRecord{Mode: mode.String()}
	}
	if slices.Contains(rec.Targets, target) {
		if mounted, err := d.isMounted(target); err == nil && mounted {
			return &csi.NodePublishVolumeResponse{}, nil
		}
	} else if len(rec.Targets) > 0 && mode == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s (SINGLE_NODE_SINGLE_WRITER) is already published at %v", id, rec.Targets)
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "creating target path %s: %v", target, err)
	}
	options := []string{"bind"}
	if req.GetReadonly() || readerOnly(mode) {
		options = append(options, "ro")
	}
	if err := d.mounter.Mount(staging, target, "", options); err != nil {
		return nil, status.Errorf(codes.Internal, "bind-mounting %s at %s: %v", staging, target, err)
	}
	if !slices.Contains(rec.Targets, target) {
		rec.Targets = append(rec.Targets, target)
	}
	if err := d.store.setPublished(d.nodeID, id, rec); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	klog.InfoS("Published volume", "id", id, "target", target, "options", options)
	return &csi.NodePublishVolumeResponse{}, nil
}

func (d *driver) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	id, target := req.GetVolumeId(), req.GetTargetPath()
	switch {
	case id == "":
		return nil, status.Error(codes.InvalidArgument, "volume id is required")
	case target == "":
		return nil, status.Error(codes.InvalidArgument, "target path is required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.unmountAll(target); err != nil {
		return nil, status.Errorf(codes.Internal, "unmounting %s: %v", target, err)
	}
	if err := mount.CleanupMountPoint(target, d.mounter, true); err != nil {
		return nil, status.Errorf(codes.Internal, "removing %s: %v", target, err)
	}
	if validID(id) {
		rec, err := d.store.published(d.nodeID, id)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		if rec != nil {
			rec.Targets = slices.DeleteFunc(rec.Targets, func(t string) bool { return t == target })
			if err := d.store.setPublished(d.nodeID, id, rec); err != nil {
				return nil, status.Error(codes.Internal, err.Error())
			}
		}
	}
	klog.InfoS("Unpublished volume", "id", id, "target", target)
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// NodeGetVolumeStats reports the bytes the volume's files take against its capacity, and the
// inodes of the filesystem that holds it.
func (d *driver) NodeGetVolumeStats(_ context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	id, path := req.GetVolumeId(), req.GetVolumePath()
	switch {
	case id == "":
		return nil, status.Error(codes.InvalidArgument, "volume id is required")
	case path == "":
		return nil, status.Error(codes.InvalidArgument, "volume path is required")
	}
	vol, err := d.store.volume(id)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if vol == nil {
		return nil, status.Errorf(codes.NotFound, "volume %s does not exist", id)
	}
	mounted, err := d.isMounted(path)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "checking %s: %v", path, err)
	}
	if !mounted {
		return nil, status.Errorf(codes.NotFound, "volume %s is not mounted at %s", id, path)
	}
	var used int64
	_ = filepath.WalkDir(path, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, ierr := e.Info(); ierr == nil {
				used += info.Size()
			}
		}
		return nil // a file vanishing mid-walk is not an error for a usage figure
	})
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return nil, status.Errorf(codes.Internal, "statfs %s: %v", path, err)
	}
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{Unit: csi.VolumeUsage_BYTES, Total: vol.CapacityBytes, Used: used, Available: max(vol.CapacityBytes-used, 0)},
		{
			Unit:      csi.VolumeUsage_INODES,
			Total:     int64(st.Files),
			Used:      int64(st.Files - st.Ffree),
			Available: int64(st.Ffree),
		},
	}}, nil
}
