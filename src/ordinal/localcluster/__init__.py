"""The local cluster: upstream Kubernetes components built from Go modules, run as host processes.

``build`` compiles and caches the binaries, ``pki`` makes certificates and kubeconfigs,
``process`` starts and stops recorded processes, ``components`` describes each control-plane
process and its readiness gate, ``nodes`` holds one module per node kind, and ``cluster``
orchestrates ``up``/``down``/``status``.
"""
