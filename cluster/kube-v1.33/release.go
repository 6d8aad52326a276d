package main

import (
	"github.com/spf13/cobra"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// newKubeletCommand: up to 1.33 the kubelet's command takes no arguments.
func newKubeletCommand() *cobra.Command { return kubelet.NewKubeletCommand() }

// beforeKubectl: up to 1.33 kubectl sets nothing up before building its command.
func beforeKubectl() {}
