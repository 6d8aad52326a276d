package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// newKubeletCommand: since 1.34 the kubelet's command takes a context.
func newKubeletCommand() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) }

// beforeKubectl: since 1.35 kubectl's verbosity is set before the command is built.
func beforeKubectl() { _, _ = logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) }
