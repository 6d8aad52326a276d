"""Actions on the cluster: the workload under test, faults on its pods and nodes, namespaces, data tokens.

Both consumers act through here: the conformance tests (through :class:`~ordinal.act.workload.Workload`)
and the chaos activities. Every change a fault makes is named (a pod by set and ordinal, a node
by name), reported back with UIDs, and undoable; node changes go into the node ledger first.
"""
