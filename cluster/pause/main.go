// Command pause is the sandbox ("infra") container of ordinal's real nodes: it
// holds a pod's namespaces open and does nothing else. Like upstream's pause.c
// it sleeps until SIGINT or SIGTERM (then exits 0) and, as PID 1 of a pod that
// shares its PID namespace, reaps every child that gets re-parented to it.
//
// It is ordinal's own so that a node needs no registry: the launcher builds it
// statically and packs it into an OCI archive (src/ordinal/localcluster/images.py).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is reported by `pause -v`; the image tag says the same.
const version = "ordinal-pause-1"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println(version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: warning: not running as PID 1")
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: shutting down, got %v\n", sig)
		os.Exit(0)
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
