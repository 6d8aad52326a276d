// Command provisioner is ordinal's dynamic hostPath provisioner for the local
// test cluster. It runs outside the cluster (as a host process, talking to the
// API server through --kubeconfig) and, for every PersistentVolumeClaim of a
// StorageClass whose provisioner is --name, makes <root>/<pv-name> and creates a
// hostPath PersistentVolume for it. See provisioner.go for the PV shape.
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

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

const resyncPeriod = 15 * time.Minute

// The provisioner's API client rate: see where it is set.
const (
	clientQPS   = 100
	clientBurst = 200
)

func main() {
	klog.InitFlags(nil) // klog logs to stderr by default
	kubeconfig := flag.String("kubeconfig", "", "path to the kubeconfig used to reach the API server (required)")
	root := flag.String("root", "", "directory under which one directory per volume is created (required)")
	name := flag.String("name", "ordinal.dev/hostpath", "provisioner name; StorageClasses select it with .provisioner")
	healthAddr := flag.String("health-addr", "127.0.0.1:10260", "address for GET /healthz (200 once the controller runs, 503 before)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %v\n", flag.Args())
		os.Exit(2)
	}
	if *kubeconfig == "" || *root == "" {
		fmt.Fprintln(os.Stderr, "--kubeconfig and --root are required")
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*kubeconfig, *root, *name, *healthAddr); err != nil {
		klog.ErrorS(err, "provisioner failed")
		klog.FlushAndExit(klog.ExitFlushTimeout, 1)
	}
	klog.Flush()
}

func run(kubeconfig, root, name, healthAddr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger := klog.FromContext(ctx)

	p, err := newHostPathProvisioner(root)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig %q: %w", kubeconfig, err)
	}
	cfg.UserAgent = "ordinal-hostpath-provisioner"
	// client-go's default of 5 requests/s (burst 10) delays PV creation by over a second when
	// a parallel suite run asks for claims in many namespaces at once; the local cluster's apiserver
	// serves far more.
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}

	// Our own informers, so /healthz can report when their caches have synced.
	factory := informers.NewSharedInformerFactory(client, resyncPeriod)
	claims := factory.Core().V1().PersistentVolumeClaims().Informer()
	volumes := factory.Core().V1().PersistentVolumes().Informer()
	classes := factory.Storage().V1().StorageClasses().Informer()
	nodes := factory.Core().V1().Nodes()
	nodeInformer := nodes.Informer() // registered before factory.Start, so it runs
	p.zoneOf = func(node string) (string, error) {
		n, err := nodes.Lister().Get(node)
		if err != nil {
			return "", err
		}
		return n.Labels[zoneLabel], nil
	}

	ctrl := controller.NewProvisionController(ctx, client, name, p,
		controller.LeaderElection(false), // single instance
		controller.MetricsPort(0),        // no metrics listener
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
	logger.Info("Starting", "provisioner", name, "root", p.root, "healthAddr", ln.Addr().String())

	factory.Start(ctx.Done())
	var workers sync.WaitGroup
	ctrl.ControllerWaitGroup(&workers)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctrl.Run(ctx)
	}()

	if cache.WaitForCacheSync(ctx.Done(), claims.HasSynced, volumes.HasSynced, classes.HasSynced, nodeInformer.HasSynced) {
		// The controller starts its workers right after the same caches sync.
		for !ctrl.HasRun() && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		if ctx.Err() == nil {
			ready.Store(true)
			logger.Info("Controller running")
		}
	}

	<-ctx.Done()
	logger.Info("Shutting down")
	ready.Store(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	<-done
	workers.Wait()
	factory.Shutdown()
	return nil
}
