package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	"k8s.io/mount-utils"
)

const (
	// DriverName is the CSI driver's name: CSIDriver object, StorageClass provisioner, PV spec.csi.driver.
	DriverName = "csi.ordinal.dev"
	// ZoneKey is the driver's topology key; the kubelet copies it onto the Node as a label.
	ZoneKey = "topology.csi.ordinal.dev/zone"
	// defaultCapacity is what a volume gets when the request names no size.
	defaultCapacity int64 = 1 << 30
)

// version is the driver's vendor_version (GetPluginInfo); -ldflags "-X main.version=..." may stamp it.
var version = "v0.1.0"

// driver implements the Identity service, and the Controller or Node service by mode.
type driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	csi.UnimplementedNodeServer

	store   *store
	nodeID  string // node mode only
	zone    string // node mode only: the zone the node is in
	mounter mount.Interface

	mu sync.Mutex // serialises every change of the store made by this process
}

func newDriver(root, nodeID, zone string) (*driver, error) {
	s, err := newStore(root)
	if err != nil {
		return nil, err
	}
	return &driver{store: s, nodeID: nodeID, zone: zone, mounter: mount.New("")}, nil
}

// --- Identity ---------------------------------------------------------------------------------

func (d *driver) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: DriverName, VendorVersion: version}, nil
}

func (d *driver) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	service := func(t csi.PluginCapability_Service_Type) *csi.PluginCapability {
		return &csi.PluginCapability{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: t}}}
	}
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{
		service(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		service(csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS),
	}}, nil
}

func (d *driver) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil // ready: the store was opened before the server started
}

// --- access modes -----------------------------------------------------------------------------

// singleNode reports whether a mode confines the volume to one node at a time.
func singleNode(mode csi.VolumeCapability_AccessMode_Mode) bool {
	switch mode {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
		return true
	}
	return false
}

func readerOnly(mode csi.VolumeCapability_AccessMode_Mode) bool {
	return mode == csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY ||
		mode == csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
}

// checkCapability returns why a capability is unsupported, or "" when it is supported:
// mount access (any fs type: a directory has none) and every defined access mode.
func checkCapability(c *csi.VolumeCapability) string {
	if c == nil {
		return "a volume capability is nil"
	}
	if c.GetBlock() != nil {
		return "block access is not supported (volumes are directories)"
	}
	if c.GetMount() == nil {
		return "the access type must be mount"
	}
	if c.GetAccessMode() == nil {
		return "the access mode is missing"
	}
	switch c.GetAccessMode().GetMode() {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER,
		csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		return ""
	}
	return fmt.Sprintf("access mode %s is not supported", c.GetAccessMode().GetMode())
}

func checkCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "volume capabilities are required")
	}
	for _, c := range caps {
		if why := checkCapability(c); why != "" {
			return status.Error(codes.InvalidArgument, why)
		}
	}
	return nil
}

// --- serving ----------------------------------------------------------------------------------

// listen opens a unix socket from an endpoint "unix:///path" (or "unix:/path", or a plain path),
// replacing a stale socket file left by a previous run.
func listen(endpoint string) (net.Listener, string, error) {
	path := endpoint
	if strings.HasPrefix(endpoint, "unix:") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, "", fmt.Errorf("parsing endpoint %q: %w", endpoint, err)
		}
		path = u.Path
		if path == "" {
			path = u.Opaque
		}
	} else if strings.Contains(endpoint, "://") {
		return nil, "", fmt.Errorf("expected a unix:// endpoint, got %q", endpoint)
	}
	if path == "" {
		return nil, "", fmt.Errorf("expected a socket path in endpoint %q", endpoint)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, "", err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("removing stale socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, "", err
	}
	return ln, path, nil
}

// logCalls logs every call (secrets stripped) and every error, as the upstream sidecars do.
func logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	klog.V(3).InfoS("GRPC call", "method", info.FullMethod, "request", protosanitizer.StripSecrets(req))
	resp, err := handler(ctx, req)
	if err != nil {
		klog.ErrorS(err, "GRPC error", "method", info.FullMethod)
	} else {
		klog.V(4).InfoS("GRPC response", "method", info.FullMethod, "response", protosanitizer.StripSecrets(resp))
	}
	return resp, err
}

// newServer registers the Identity service and, by mode, the Controller or Node service.
func (d *driver) newServer(mode string) (*grpc.Server, error) {
	srv := grpc.NewServer(grpc.UnaryInterceptor(logCalls))
	csi.RegisterIdentityServer(srv, d)
	switch mode {
	case "controller":
		csi.RegisterControllerServer(srv, d)
	case "node":
		if d.nodeID == "" {
			return nil, errors.New("--node-id is required in node mode")
		}
		if !validID(d.nodeID) {
			return nil, fmt.Errorf("--node-id %q is not a valid node name", d.nodeID)
		}
		// The controller learns of nodes from these records (ControllerPublish to an unknown node is NotFound).
		if err := d.store.registerNode(nodeRecord{ID: d.nodeID, Zone: d.zone}); err != nil {
			return nil, fmt.Errorf("registering node %s: %w", d.nodeID, err)
		}
		csi.RegisterNodeServer(srv, d)
	default:
		return nil, fmt.Errorf("expected --mode controller or node, got %q", mode)
	}
	return srv, nil
}
