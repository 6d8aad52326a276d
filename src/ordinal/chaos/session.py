"""What one ``chaos run`` remembers between activities: target, baseline, faults, recorders.

Chaos Toolkit calls each activity as a plain function in one process and hands them
nothing but their arguments and a *copy* of the configuration, so activities cannot pass
values to each other through it. ordinal keeps that memory here, in process: the identity
baseline a probe compares against, the faults the actions injected (which pods, when),
the background recorders that feed the timeline, and one API client per target cluster.
In-process state cannot go stale the way a file under ``reports/`` could when a later run
forgets to overwrite it; everything worth keeping also goes into the journal (action
outputs) and, for the timeline, into a file the control writes at the end.

The safety control (:mod:`ordinal.chaos.controls`) opens the session, moves its
:attr:`Session.phase` along the run and closes it. Activities used without the control
get a standalone session, in which probes cannot tell "before" from "after".
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ordinal import capabilities
from ordinal.act.namespaces import new_run_id
from ordinal.act.nodes import NodeCommands, ledger_nodes, restore_node
from ordinal.chaos.results import Snapshot
from ordinal.checks.storage import snapshot_claims
from ordinal.errors import InvalidScenario, InvariantViolated
from ordinal.kube import objects as o
from ordinal.kube.permissions import Call
from ordinal.kube.rest import EVENTS, NODES, PODS, PVCS, PVS, STATEFULSETS, Kube
from ordinal.labels import REVISION_LABEL
from ordinal.observe.dnsquery import Resolver
from ordinal.observe.recorder import ATTACHMENTS, Recorder
from ordinal.observe.snapshot import observe_set
from ordinal.target import Target, check_allowed, connect, context_name, resolve
from ordinal.types import Obj

#: Kinds the background recorder watches: identity, claims, scale history, node state and events.
RECORDED_KINDS = (PODS, PVCS, STATEFULSETS, NODES, EVENTS)
#: And where the identity may watch them, the namespace's VolumeAttachments with the PVs that tie them to it
#: (the suite's recorder does the same; attachment promises are judged from them).
ATTACHMENT_KINDS = (PVS, *ATTACHMENTS)

Phase = Literal["standalone", "setup", "hypothesis-before", "method", "hypothesis-after", "rollback", "teardown"]


@dataclass(frozen=True)
class Fault:
    """One fault an ordinal action injected: which pods of which set it hit, and when."""

    action: str
    namespace: str
    set_name: str
    pods: Mapping[str, str]  # pod name -> UID it had before the fault
    at: float  # monotonic seconds, the clock recorders use
    node: str | None = None
    #: The pod the action aimed at (its node is the one hit), when it picked one itself.
    pod: str = ""
    #: Other nodes where that pod's volume could be used when the fault struck (none: it must wait for the node).
    takers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "statefulset": f"{self.namespace}/{self.set_name}",
            "pods": dict(self.pods),
            "node": self.node,
            **({"pod": self.pod} if self.pod else {}),
        }


@dataclass
class Baseline:
    """The set as it was before the fault: what identity probes compare against."""

    namespace: str
    name: str
    taken_at: float
    sts: Obj
    pods: list[Obj]
    pvcs: list[Obj]
    pvs: list[Obj]
    tokens: dict[str, str] = field(default_factory=dict)  # pod -> data token written into its volume
    #: Why no token could be written (a missing capability), so the probe says "not checked", not "missing".
    tokens_not_written: str = ""

    @classmethod
    def take(cls, kube: Kube, namespace: str, name: str, at: float) -> Baseline:
        state = observe_set(kube, namespace, name)
        if state.sts is None:
            raise InvalidScenario(f"expected StatefulSet {namespace}/{name} to snapshot, found none")
        return cls(namespace, name, at, state.sts, state.members(), state.pvcs, state.pvs)

    def to_json(self) -> Snapshot:
        """The baseline as the snapshot action reports it in the journal."""
        sts = self.sts
        return {
            "statefulset": f"{self.namespace}/{self.name}",
            "uid": o.uid(sts),
            "replicas": int(o.spec(sts).get("replicas", 1)),
            "currentRevision": o.status(sts).get("currentRevision"),
            "updateRevision": o.status(sts).get("updateRevision"),
            "pods": {
                o.name(p): {
                    "uid": o.uid(p),
                    "node": o.spec(p).get("nodeName"),
                    "ip": o.pod_ip(p),
                    "revision": o.labels(p).get(REVISION_LABEL),
                }
                for p in self.pods
            },
            "claims": {n: c.to_json() for n, c in snapshot_claims(sts, self.pvcs).items()},
        }


@dataclass
class Session:
    """Everything one experiment run shares between its activities (see module docstring)."""

    run_id: str
    phase: Phase = "standalone"
    experiment: str = ""
    namespace: str = ""  # the target namespace disruptive actions are confined to ("" = not set)
    baselines: dict[tuple[str, str], Baseline] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    recorders: dict[str, Recorder] = field(default_factory=dict)
    figures: list[dict[str, Any]] = field(default_factory=list)
    canaries: dict[tuple[str, str], Obj] = field(default_factory=dict)  # set -> what to restore
    restored_upto: dict[tuple[str, str], int] = field(default_factory=dict)  # set -> faults seen restored
    #: How to stop and start real nodes, as the run's configuration gave them (None: not known yet).
    node_commands: NodeCommands | None = None
    #: A session bound to one client whatever the arguments say (unit tests, embedding in another runner).
    fixed: tuple[Target, Kube] | None = None
    _clients: dict[tuple[str | None, str | None], tuple[Target, Kube]] = field(default_factory=dict)
    _recorder_clients: list[Kube] = field(default_factory=list)
    _resolvers: dict[tuple[str, str], Resolver | None] = field(default_factory=dict)
    _domains: dict[str, tuple[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- cluster access ---------------------------------------------------------------------------

    def target(self, configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None) -> Target:
        """The cluster these arguments point at, refused unless the local cluster or an allowed context."""
        if self.fixed is not None:
            return self.fixed[0]
        kubeconfig = _lookup(("kubeconfig",), configuration, secrets)
        context = _lookup(("kube_context", "KUBERNETES_CONTEXT"), configuration, secrets)
        target = resolve(kubeconfig or None, context or None)
        check_allowed(target)
        if target.kubeconfig is not None and not target.context:
            # Name the context, so "KUBECONFIG=x" and "x, its current context" share one client.
            target = replace(target, context=context_name(target))
        return target

    def kube(self, configuration: Mapping[str, Any] | None = None, secrets: Mapping[str, Any] | None = None) -> Kube:
        """The session's client for the target; one per (kubeconfig, context), so requests add up."""
        if self.fixed is not None:
            return self.fixed[1]
        target = self.target(configuration, secrets)
        key = (target.kubeconfig, target.context)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = (target, connect(target))
            return self._clients[key][1]

    def requests(self) -> dict[str, dict[str, int]]:
        """API requests by verb: those activities made, and those the background recorders made."""
        activities = self.activity_requests()
        recorders: Counter[str] = Counter()
        for kube in self._recorder_clients:
            recorders.update(kube.requests)
        return {"activities": dict(activities), "recorders": dict(recorders)}

    def api_calls(self) -> Counter[Call]:
        """Every request of the run (activities and recorders) as RBAC sees it, for ``ordinal rbac``'s check."""
        total: Counter[Call] = Counter()
        for kube in [*self._kubes(), *self._recorder_clients]:
            total.update(kube.calls)
        return total

    def activity_requests(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for kube in self._kubes():
            total.update(kube.requests)
        return total

    def targets(self) -> list[Target]:
        return [self.fixed[0]] if self.fixed else [t for t, _ in self._clients.values()]

    def _kubes(self) -> list[Kube]:
        return [self.fixed[1]] if self.fixed else [k for _, k in self._clients.values()]

    # -- baseline and faults ----------------------------------------------------------------------

    def baseline(self, namespace: str, name: str) -> Baseline | None:
        return self.baselines.get((namespace, name))

    def record_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def faults_on(self, namespace: str, set_name: str) -> list[Fault]:
        return [f for f in self.faults if f.namespace == namespace and f.set_name == set_name]

    def disrupted(self, namespace: str, set_name: str) -> dict[str, str]:
        """Pod name -> UID before the fault, for every pod of the set an action hit (first fault wins)."""
        hit: dict[str, str] = {}
        for fault in self.faults_on(namespace, set_name):
            for pod, uid in fault.pods.items():
                hit.setdefault(pod, uid)
        return hit

    def lost_pod(self, namespace: str, set_name: str, ordinal: int) -> tuple[str, Fault]:
        """(pod, the fault that hit it): ``ordinal``'s pod, or with -1 the pod the latest node fault aimed at."""
        if ordinal >= 0:
            pod = f"{set_name}-{ordinal}"
            fault = next((f for f in reversed(self.faults_on(namespace, set_name)) if pod in f.pods), None)
        else:
            fault = next((f for f in reversed(self.faults_on(namespace, set_name)) if f.pod), None)
            pod = fault.pod if fault is not None else f"{set_name}-<picked>"
        if fault is None:
            raise InvariantViolated(f"expected a fault on pod {namespace}/{pod} earlier in this run, found none")
        return pod, fault

    def pending(self, namespace: str, set_name: str) -> tuple[list[Fault], dict[str, str]]:
        """Faults on the set not yet seen restored, and pod name -> UID the latest of them hit."""
        faults = self.faults_on(namespace, set_name)[self.restored_upto.get((namespace, set_name), 0) :]
        hit: dict[str, str] = {}
        for fault in faults:
            hit.update(fault.pods)
        return faults, hit

    def mark_restored(self, namespace: str, set_name: str, faults_seen: int) -> None:
        key = (namespace, set_name)
        self.restored_upto[key] = self.restored_upto.get(key, 0) + faults_seen

    def comparing(self) -> bool:
        """True once the method ran (or we cannot tell): a missing baseline is then a finding."""
        return self.phase in ("hypothesis-after", "rollback", "teardown")

    # -- recorders --------------------------------------------------------------------------------

    def start_recorder(self, namespace: str, configuration: Mapping[str, Any] | None, secrets: Any) -> Recorder:
        """A background recorder for ``namespace`` on a client of its own (its watches count apart)."""
        with self._lock:
            running = self.recorders.get(namespace)
        if running is not None:
            return running
        target = self.target(configuration, secrets)
        attachments, _ = capabilities.attachments_visible(self.kube(configuration, secrets))
        kinds = RECORDED_KINDS + (ATTACHMENT_KINDS if attachments else ())
        kube = connect(target, pool_size=len(kinds) + 2)
        recorder = Recorder(kube, namespace, kinds=kinds).start()
        with self._lock:
            self.recorders[namespace] = recorder
            self._recorder_clients.append(kube)
        return recorder

    def recorder(self, namespace: str) -> Recorder | None:
        return self.recorders.get(namespace)

    def stop_recorders(self) -> None:
        for recorder in list(self.recorders.values()):
            recorder.stop()

    # -- DNS ---------------------------------------------------------------------------------------

    def resolver(
        self, configuration: Mapping[str, Any] | None, dns_server: str = "", secrets: Any = None
    ) -> Resolver | None:
        """A resolver for the cluster DNS, or None when it cannot be reached from here.

        ``dns_server`` (the argument, else ``dns_server`` in the configuration: ``<ip>:<port>``) is
        asked directly; else ``ORDINAL_DNS``, the plugin's ``--dns`` (``auto``, ``direct:<ip>:<port>``,
        ``port-forward``), decides, ``auto`` by default (:func:`ordinal.capabilities.dns_access`: the
        local cluster's CoreDNS, else a port-forward to the cluster DNS pod). Decided once per run
        and target.
        """
        server = dns_server or str((configuration or {}).get("dns_server") or "")
        mode: capabilities.DnsMode = "direct"
        if not server:
            mode, server = capabilities.parse_dns_mode(os.environ.get("ORDINAL_DNS") or "auto")
        target = self.target(configuration, secrets)
        key = (f"{target.kubeconfig}:{target.context}", f"{mode}:{server}")
        if key not in self._resolvers:  # activities run one at a time; no lock needed around the choice
            kube = self.kube(configuration, secrets)
            self._resolvers[key] = capabilities.dns_access(kube, mode, server, local=target.local)[1]
        return self._resolvers[key]

    def cluster_domain(
        self, configuration: Mapping[str, Any] | None, secrets: Any = None, zone: str = ""
    ) -> tuple[str, str]:
        """(domain, how it was found) — or ("", why not). Never assumed.

        Order: the argument, ``cluster_domain`` in the configuration, ``ORDINAL_CLUSTER_DOMAIN`` (the
        plugin's ``--cluster-domain`` too), else discovered from the cluster DNS
        (:func:`ordinal.capabilities.discover_cluster_domain`), once per run and target.
        """
        given = zone or str((configuration or {}).get("cluster_domain") or "")
        given = given or os.environ.get("ORDINAL_CLUSTER_DOMAIN", "")
        if given:
            return given.rstrip("."), "given"
        target = self.target(configuration, secrets)
        key = f"{target.kubeconfig}:{target.context}"
        if key not in self._domains:
            resolver = self.resolver(configuration, "", secrets)
            self._domains[key] = capabilities.discover_cluster_domain(
                self.kube(configuration, secrets), resolver=resolver
            )
        return self._domains[key]

    # -- end ---------------------------------------------------------------------------------------

    def restore_nodes(self) -> list[str]:
        """Undo every node change this run recorded in the ledger; return what failed."""
        errors: list[str] = []
        commands = self.node_commands
        if commands is None:
            with contextlib.suppress(InvalidScenario):
                commands = NodeCommands.from_env()
        for kube in self._kubes():
            try:
                nodes = ledger_nodes(kube, self.run_id)
            except Exception as err:
                errors.append(f"ledger: {err}")
                continue
            for node in nodes:
                try:
                    restore_node(kube, node, commands)
                except Exception as err:
                    errors.append(f"node/{node}: {err}")
        return errors

    def close(self) -> None:
        self.stop_recorders()
        for resolver in self._resolvers.values():
            close = getattr(resolver, "close", None)
            if callable(close):
                close()
        for _, kube in self._clients.values():
            with contextlib.suppress(Exception):
                kube.close()
        for kube in self._recorder_clients:
            with contextlib.suppress(Exception):
                kube.close()


_current: Session | None = None
_current_lock = threading.Lock()


def current() -> Session:
    """The session of this run; a standalone one when no control opened it."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Session(new_run_id())
        return _current


def open_session(experiment: str = "") -> Session:
    """Start a fresh session (the control calls this once per run)."""
    global _current
    with _current_lock:
        if _current is not None:
            _current.close()
        _current = Session(new_run_id(), phase="setup", experiment=experiment)
        return _current


def install(session: Session) -> Session:
    """Make ``session`` the current one (tests hand in a session bound to a fake client)."""
    global _current
    with _current_lock:
        if _current is not None and _current is not session:
            _current.close()
        _current = session
        return session


def close_session() -> None:
    global _current
    with _current_lock:
        if _current is not None:
            _current.close()
        _current = None


# -- helpers -----------------------------------------------------------------------------------


def _lookup(keys: Iterable[str], configuration: Mapping[str, Any] | None, secrets: Any) -> str:
    """First non-empty value under ``keys`` in secrets (flat or scoped) or configuration."""
    sources: list[Mapping[str, Any]] = []
    if isinstance(secrets, Mapping):
        sources.append(secrets)
        sources.extend(v for v in secrets.values() if isinstance(v, Mapping))
    if configuration:
        sources.append(configuration)
    for key in keys:
        for source in sources:
            value = source.get(key)
            if isinstance(value, str) and value:
                return value
    return ""


def now() -> float:
    """The clock faults are stamped with: the recorders' (monotonic) clock."""
    return time.monotonic()
