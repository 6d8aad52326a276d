// Command kube is ordinal's multi-call Kubernetes binary: one build of the
// upstream components, one component per OS process. The component is chosen
// by the name the binary was invoked as (a symlink such as kube-apiserver) or,
// failing that, by the first argument (`kube kube-apiserver --help`).
//
// Each branch mirrors the pinned release's cmd/<component>/<component>.go. This file is
// shared (a symlink) by the wrapper modules of older releases (cluster/kube-vX.Y); what
// differs between releases lives in each module's own release.go.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	_ "time/tzdata" // CronJob time zones, as upstream's apiserver and controller-manager

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// components maps an invocation name to the upstream cobra constructor.
var components = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kube-proxy":              proxy.NewProxyCommand,
	"kubelet":                 newKubeletCommand,
}

func names() string {
	out := []string{"kubectl"}
	for name := range components {
		out = append(out, name)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func main() {
	name := filepath.Base(os.Args[0])
	if name == "kubectl" || components[name] != nil {
		os.Exit(run(name))
	}
	if len(os.Args) > 1 {
		name = os.Args[1]
		if name == "kubectl" || components[name] != nil {
			// Shift so the component sees its own argv, as if called by its name.
			os.Args = append([]string{name}, os.Args[2:]...)
			os.Exit(run(name))
		}
	}
	fmt.Fprintf(os.Stderr, "kube: expected to be invoked as one of %s (by symlink or first argument), got %q\n", names(), name)
	os.Exit(2)
}

func run(name string) int {
	if name == "kubectl" {
		// Mirrors cmd/kubectl/kubectl.go (what a release sets up first is in its release.go).
		beforeKubectl()
		command := cmd.NewDefaultKubectlCommand()
		if err := cli.RunNoErrOutput(command); err != nil {
			util.CheckErr(err)
		}
		return 0
	}
	return cli.Run(components[name]())
}
