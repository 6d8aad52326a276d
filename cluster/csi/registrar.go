package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kubernetes-csi/csi-lib-utils/connection"
	"github.com/kubernetes-csi/csi-lib-utils/rpc"
	"google.golang.org/grpc"
	"k8s.io/klog/v2"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// registrar answers the kubelet's plugin watcher on <kubelet root>/plugins_registry: it names the
// driver and the socket the kubelet then calls NodeGetInfo, NodeStage and NodePublish on.
type registrar struct {
	registerapi.UnimplementedRegistrationServer

	driverSocket string
	failed       chan string // the kubelet refused the registration: the process exits with it
}

func (r *registrar) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	klog.InfoS("Kubelet asked for plugin info", "driver", DriverName, "endpoint", r.driverSocket)
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              DriverName,
		Endpoint:          r.driverSocket,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registrar) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if st.GetPluginRegistered() {
		klog.InfoS("Registered with the kubelet", "driver", DriverName)
	} else {
		klog.ErrorS(nil, "The kubelet refused the registration", "driver", DriverName, "error", st.GetError())
		select {
		case r.failed <- st.GetError():
		default:
		}
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// registrationSocket is where the kubelet's plugin watcher finds the driver's registrar. The watcher
// takes any socket in the directory; the name is short because a unix socket path has at most 107
// characters and the directory lies deep in the kubelet's root dir.
func registrationSocket(dir string) string {
	return filepath.Join(dir, "csi.sock")
}

// runRegistrar waits for the driver to answer Probe (the kubelet calls NodeGetInfo right after
// GetInfo), then serves the registration socket until ctx ends or the kubelet refuses.
func runRegistrar(ctx context.Context, driverSocket, dir string) error {
	if driverSocket == "" || dir == "" {
		return fmt.Errorf("--driver-socket and --registration-dir are required")
	}
	probeCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	conn, err := connection.ConnectWithoutMetrics(probeCtx, "unix://"+driverSocket)
	if err == nil {
		err = rpc.ProbeForever(probeCtx, conn, 5*time.Second)
		conn.Close()
	}
	cancel()
	if err != nil {
		return fmt.Errorf("driver at %s did not become ready: %w", driverSocket, err)
	}
	ln, path, err := listen(registrationSocket(dir))
	if err != nil {
		return err
	}
	defer os.Remove(path)
	r := &registrar{driverSocket: driverSocket, failed: make(chan string, 1)}
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, r)
	go func() {
		if err := srv.Serve(ln); err != nil {
			klog.ErrorS(err, "registration server stopped")
		}
	}()
	klog.InfoS("Serving plugin registration", "socket", path, "driverSocket", driverSocket)
	select {
	case <-ctx.Done():
		srv.GracefulStop()
		return nil
	case why := <-r.failed:
		srv.Stop()
		return fmt.Errorf("the kubelet refused to register %s: %s", DriverName, why)
	}
}
