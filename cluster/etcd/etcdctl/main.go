// Command etcdctl is etcd's command-line client, built from the pinned
// go.etcd.io/etcd/etcdctl/v3 release. It mirrors upstream's etcdctl/main.go.
package main

import (
	"go.etcd.io/etcd/etcdctl/v3/ctlv3"
)

func main() {
	ctlv3.MustStart()
}
