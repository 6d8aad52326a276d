"""The local cluster: upstream Kubernetes components built from Go modules, run as host processes.

``build`` compiles and caches the binaries, ``pki`` makes certificates and kubeconfigs,
``process`` starts and stops recorded processes, ``components`` describes each control-plane
process and its readiness gate, ``nodes`` holds one module per node kind (``kwok``: simulated,
``real``: kubelet + containerd), and ``cluster`` orchestrates ``up``/``down``/``status``.

Real nodes also use ``preflight`` (can this host run them?), ``network`` (the cluster's bridge
and each node's namespace), ``cgroups`` (the kubelet's cgroupRoot), ``images`` (pause and
busybox as OCI archives, no registry) and ``nodeconfig`` (containerd, CNI, kubelet, kube-proxy
configuration generated from Python).
"""
