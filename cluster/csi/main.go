// Command ordinal-csi is ordinal's CSI driver csi.ordinal.dev for the local cluster, with the two
// helpers it needs where upstream's sidecars are not available:
//
//	ordinal-csi driver --mode controller|node --endpoint unix:///path --root DIR [--node-id N --zone Z]
//	ordinal-csi registrar --driver-socket PATH --registration-dir DIR
//	ordinal-csi provisioner --kubeconfig F --csi-address unix:///path [--health-addr ADDR]
//	ordinal-csi probe --endpoint unix:///path
//	ordinal-csi version
//
// Volumes are directories under --root, a directory every node sees (the cluster's state
// directory, like a SAN): the controller creates them and records which node a volume is attached
// to; a node bind-mounts a volume only while it is attached there. Attachment is driven by the
// upstream external-attacher, provisioning by the provisioner subcommand (on the
// sig-storage-lib-external-provisioner library), registration with each kubelet by the registrar.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-lib-utils/connection"
	"github.com/kubernetes-csi/csi-lib-utils/rpc"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

const usage = `usage: ordinal-csi driver|registrar|provisioner|probe [flags]
  driver       serve the CSI Identity and Controller (--mode controller) or Node (--mode node) services
  registrar    register the node service with the kubelet (plugin registration socket)
  provisioner  create and delete volumes for claims of the driver's StorageClasses
  probe        exit 0 once the driver at --endpoint answers Probe (readiness checks)
  version      print the driver's vendor version (GetPluginInfo's), for the CSIDriver object's label
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	fs := flag.NewFlagSet("ordinal-csi "+os.Args[1], flag.ExitOnError)
	klog.InitFlags(fs)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var run func() error
	switch os.Args[1] {
	case "driver":
		mode := fs.String("mode", "", "controller or node")
		endpoint := fs.String("endpoint", "", "unix:///path of the socket to serve (required)")
		root := fs.String("root", "", "directory holding the volumes and their records, seen by every node (required)")
		nodeID := fs.String("node-id", "", "node mode: this node's name (NodeGetInfo)")
		zone := fs.String("zone", "", "node mode: this node's zone (topology "+ZoneKey+")")
		run = func() error { return runDriver(ctx, *mode, *endpoint, *root, *nodeID, *zone) }
	case "registrar":
		socket := fs.String("driver-socket", "", "path of the node service's socket, as the kubelet sees it (required)")
		dir := fs.String("registration-dir", "", "the kubelet's plugins_registry directory (required)")
		run = func() error { return runRegistrar(ctx, *socket, *dir) }
	case "provisioner":
		kubeconfig := fs.String("kubeconfig", "", "kubeconfig for the API server (required)")
		address := fs.String("csi-address", "", "unix:///path of the controller service (required)")
		health := fs.String("health-addr", "127.0.0.1:10263", "address for GET /healthz (200 once provisioning runs)")
		timeout := fs.Duration("timeout", 30*time.Second, "timeout of one CreateVolume/DeleteVolume call")
		run = func() error { return runProvisioner(ctx, *kubeconfig, *address, *health, *timeout) }
	case "version":
		run = func() error { _, err := fmt.Println(version); return err }
	case "probe":
		endpoint := fs.String("endpoint", "", "unix:///path of the driver's socket (required)")
		run = func() error { return probe(ctx, *endpoint) }
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	_ = fs.Parse(os.Args[2:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %v\n", fs.Args())
		os.Exit(2)
	}
	if err := run(); err != nil {
		klog.ErrorS(err, "ordinal-csi "+os.Args[1]+" failed")
		klog.FlushAndExit(klog.ExitFlushTimeout, 1)
	}
	klog.Flush()
}

func runDriver(ctx context.Context, mode, endpoint, root, nodeID, zone string) error {
	if endpoint == "" || root == "" {
		return errors.New("--endpoint and --root are required")
	}
	d, err := newDriver(root, nodeID, zone)
	if err != nil {
		return err
	}
	srv, err := d.newServer(mode)
	if err != nil {
		return err
	}
	ln, path, err := listen(endpoint)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	klog.InfoS("Serving", "driver", DriverName, "version", version, "mode", mode, "socket", path, "root", d.store.root, "node", nodeID, "zone", zone)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		srv.GracefulStop()
		return nil
	case err := <-done:
		return err
	}
}

func probe(ctx context.Context, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := connection.ConnectWithoutMetrics(ctx, endpoint)
	if err != nil {
		return err
	}
	defer conn.Close()
	ready, err := rpc.Probe(ctx, conn)
	if err == nil && !ready {
		err = errors.New("driver answered Probe: not ready")
	}
	return err
}

const resyncPeriod = 15 * time.Minute

// The provisioner's API client rate: see where it is set.
const (
	clientQPS   = 100
	clientBurst = 200
)

func runProvisioner(ctx context.Context, kubeconfig, address, healthAddr string, timeout time.Duration) error {
	if kubeconfig == "" || address == "" {
		return errors.New("--kubeconfig and --csi-address are required")
	}
	logger := klog.FromContext(ctx)
	conn, err := connection.ConnectWithoutMetrics(ctx, address)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", address, err)
	}
	defer conn.Close()
	if err := rpc.ProbeForever(ctx, conn, timeout); err != nil {
		return fmt.Errorf("probing %s: %w", address, err)
	}
	if name, err := rpc.GetDriverName(ctx, conn); err != nil || name != DriverName {
		return fmt.Errorf("expected driver %s at %s, got %q (%v)", DriverName, address, name, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig %q: %w", kubeconfig, err)
	}
	cfg.UserAgent = "ordinal-csi-provisioner"
	// client-go's default of 5 requests/s (burst 10) delays PV creation by over a second when
	// a parallel suite run asks for claims in many namespaces at once; the local cluster's apiserver
	// serves far more.
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	factory := informers.NewSharedInformerFactory(client, resyncPeriod)
	claims := factory.Core().V1().PersistentVolumeClaims().Informer()
	volumes := factory.Core().V1().PersistentVolumes().Informer()
	classes := factory.Storage().V1().StorageClasses().Informer()
	nodes := factory.Core().V1().Nodes()
	csiNodes := factory.Storage().V1().CSINodes()
	synced := []cache.InformerSynced{claims.HasSynced, volumes.HasSynced, classes.HasSynced,
		nodes.Informer().HasSynced, csiNodes.Informer().HasSynced}
	p := &csiProvisioner{
		client:  csi.NewControllerClient(conn),
		timeout: timeout,
		csiNode: func(name string) (*storagev1.CSINode, error) {
			return notFoundAsNil(csiNodes.Lister().Get(name))
		},
		node: nodes.Lister().Get,
		csiNodes: func() ([]*storagev1.CSINode, error) {
			items, err := csiNodes.Lister().List(labels.Everything())
			return sortedCSINodes(items), err
		},
	}
	ctrl := controller.NewProvisionController(ctx, client, DriverName, p,
		controller.LeaderElection(false), // one instance
		controller.MetricsPort(0),
		controller.ResyncPeriod(resyncPeriod),
		controller.ClaimsInformer(claims),
		controller.VolumesInformer(volumes),
		controller.ClassesInformer(classes),
	)
	var ready atomic.Bool
	ln, err := net.Listen("tcp", healthAddr)
	if err != nil {
		return fmt.Errorf("health listener on %s: %w", healthAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if ready.Load() {
			fmt.Fprintln(w, "ok")
			return
		}
		http.Error(w, "controller not running yet", http.StatusServiceUnavailable)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(err, "health server failed")
		}
	}()
	logger.Info("Starting", "provisioner", DriverName, "csiAddress", address, "healthAddr", ln.Addr().String())
	factory.Start(ctx.Done())
	var workers sync.WaitGroup
	ctrl.ControllerWaitGroup(&workers)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctrl.Run(ctx)
	}()
	if cache.WaitForCacheSync(ctx.Done(), synced...) {
		for !ctrl.HasRun() && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		if ctx.Err() == nil {
			ready.Store(true)
			logger.Info("Controller running")
		}
	}
	<-ctx.Done()
	ready.Store(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	<-done
	workers.Wait()
	factory.Shutdown()
	return nil
}
