// Command etcd is the etcd server, built from the pinned go.etcd.io/etcd/server/v3
// release. It mirrors upstream's server/main.go for that tag: all behaviour lives
// in etcdmain; this file only exists so that we can build etcd from our own module
// (upstream's server/go.mod uses directory replaces, so `go install` refuses it).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
