"""A StatefulSet under test: deploy it, act on it and wait for it with deadlines scaled for the cluster.

The conformance tests say *what* to do to a set; this class knows *how* on the cluster at
hand: which image and StorageClass to use, how to make a pod unready (a label on simulated
nodes, ``rm`` of the readiness file on real ones), and how long a wait may take (base deadline
× ``--timeout-scale``). The faults and waits themselves are the ones the chaos activities use
(:mod:`ordinal.act.pods`, :mod:`ordinal.observe.waiting`); every wait is a watch with a deadline.

It also remembers what the test asked for (:attr:`Workload.sent`: the manifest it created with
every patch it sent applied), and every set it hands back carries that spec
(:func:`ordinal.checks.request.as_requested`), so the checks judge the cluster against the request,
never against what the server says it was sent. A spec the server stored differently is reported
first, as ``api.spec-rewritten``, by every read and every wait; waits also end early with the
finding when a promise is visibly broken (a successor mounting another ordinal's claim, a pod
updated below the partition, a claim the policy keeps being removed).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ordinal.act import pods as faults
from ordinal.act.nodes import uncordon
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.identity import check_new_pod
from ordinal.checks.request import apply_json_patch, as_requested, check_spec_as_sent, merge_patch
from ordinal.checks.retention import Event, check_claims_removed
from ordinal.checks.revisions import check_partition, updated_below_partition
from ordinal.errors import CapabilityMissing, InvalidScenario
from ordinal.kube import objects as o
from ordinal.kube.manifests import (
    DEFAULT_IMAGE,
    DEFAULT_UID,
    READY_FILE,
    headless_service_manifest,
    parse_ordinal,
    pod_name,
    preferred_nodes,
    selector_labels,
    statefulset_manifest,
)
from ordinal.kube.rest import PODS, PVCS, SERVICES, STATEFULSETS, Kube
from ordinal.kube.streams import exec_in_pod
from ordinal.labels import SIMULATE_LABEL, TEMPLATE_VERSION_ANNOTATION, UNREADY
from ordinal.observe import waiting
from ordinal.observe.snapshot import SetState, observe_set
from ordinal.observe.waiting import Query, Verdict
from ordinal.types import MONOTONIC, Clock, Finding, Obj

#: A readiness file nothing ever creates: a template with it never becomes Ready.
NEVER_READY_FILE = "/tmp/never-ready"


Disruption = Literal["delete", "evict"]
DISRUPTIONS: tuple[Disruption, ...] = ("delete", "evict")

#: Base deadlines in seconds (before ``--timeout-scale``).
BASE_TIMEOUTS = {
    "ready": 120.0,  # a set of a few pods becomes Ready
    "pod": 90.0,  # one pod is replaced or changes state
    "gone": 120.0,  # pods or claims are removed (garbage collection included)
    "hold": 5.0,  # a window in which something must NOT happen
    "dns": 30.0,  # a DNS answer follows the endpoints
}


@dataclass(frozen=True)
class Timeouts:
    """Deadlines for this cluster: the base values times ``--timeout-scale``.

    The set-wide ones (a whole set Ready, every pod gone) also grow with ``replicas`` beyond the
    few pods the bases are for: OrderedReady and a rolling update take each pod in turn, so a
    50-replica set needs about 50/3 times as long; a one-pod wait does not.
    """

    scale: float = 1.0
    replicas: int = 3

    def of(self, base: float) -> float:
        return base * self.scale

    def of_set(self, base: float) -> float:
        return self.of(base) * max(3, self.replicas) / 3

    @property
    def ready(self) -> float:
        return self.of_set(BASE_TIMEOUTS["ready"])

    @property
    def pod(self) -> float:
        return self.of(BASE_TIMEOUTS["pod"])

    @property
    def gone(self) -> float:
        return self.of_set(BASE_TIMEOUTS["gone"])

    @property
    def hold(self) -> float:
        return self.of(BASE_TIMEOUTS["hold"])

    @property
    def dns(self) -> float:
        return self.of(BASE_TIMEOUTS["dns"])


@dataclass
class Workload:
    """One StatefulSet (and its headless Service) in a test's namespace."""

    kube: Kube
    namespace: str
    name: str = "web"
    image: str = DEFAULT_IMAGE
    storage_class: str | None = None
    replicas: int = 3
    timeouts: Timeouts = field(default_factory=Timeouts)
    #: Nodes whose pods obey the simulate label (from capability discovery).
    simulated_nodes: frozenset[str] = frozenset()
    #: nodeSelector for pods that must run where exec works ({} = anywhere).
    exec_node_selector: Mapping[str, str] = field(default_factory=dict)
    #: Node labels pods that need no exec prefer (simulated nodes beside real ones; {} = no preference).
    idle_node_selector: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    #: Per-pod volume template; None (the default) gives pods no volume, for tests that are not
    #: about storage and must not depend on a StorageClass.
    claim_template: str | None = None
    #: UID the pods run as (None: the platform assigns one); see kube.manifests.restricted_security.
    run_as_user: int | None = DEFAULT_UID
    #: The cluster's DNS domain, as discovered ("" when unknown: DNS tests skip then).
    cluster_domain: str = ""
    #: Whether the server sets ``apps.kubernetes.io/pod-index`` (from capability discovery).
    pod_index_label: bool = True
    clock: Clock = MONOTONIC
    #: What the test asked for: the manifest it created with every patch it sent applied (None before).
    sent: Obj | None = field(default=None, init=False)
    _uid: str = field(default="", init=False)

    # -- create ---------------------------------------------------------------------------------

    def manifest(self, *, needs_exec: bool = False, **kwargs: Any) -> Obj:
        """The set's manifest with this run's image, class, replicas and labels; ``kwargs`` override."""
        kwargs.setdefault("replicas", self.replicas)
        kwargs.setdefault("image", self.image)
        kwargs.setdefault("storage_class", self.storage_class)
        kwargs.setdefault("labels", dict(self.labels))
        kwargs.setdefault("claim_template", self.claim_template)
        kwargs.setdefault("run_as_user", self.run_as_user)
        sts = statefulset_manifest(self.name, self.namespace, **kwargs)
        template = sts["spec"]["template"]
        template["metadata"].setdefault("annotations", {})[TEMPLATE_VERSION_ANNOTATION] = "v1"
        if needs_exec and self.exec_node_selector:
            template["spec"]["nodeSelector"] = dict(self.exec_node_selector)
        elif not needs_exec and self.idle_node_selector:
            template["spec"]["affinity"] = preferred_nodes(self.idle_node_selector)
        return sts

    def deploy(
        self,
        *,
        service: bool = True,
        publish_not_ready: bool = False,
        wait: bool = True,
        manifest: Obj | None = None,
        **kwargs: Any,
    ) -> Obj:
        """Create the headless Service (unless ``service=False``) and the set; wait until Ready.

        The manifest becomes :attr:`sent`; the server's answer is judged against it at once.
        """
        sts = manifest if manifest is not None else self.manifest(**kwargs)
        if service:
            svc_name = str(sts["spec"]["serviceName"])
            self.kube.create_object(
                headless_service_manifest(
                    svc_name,
                    self.namespace,
                    selector_labels(self.name),
                    publish_not_ready=publish_not_ready,
                    labels=self.labels,
                )
            )
        self.sent = copy.deepcopy(sts)
        stored = self.judged(self.kube.create_object(sts))
        replicas = int(sts["spec"]["replicas"])
        return self.wait_ready(replicas) if wait else stored

    # -- what was asked for -----------------------------------------------------------------------

    def judged(self, stored: Obj) -> Obj:
        """``stored`` (the server's object) carrying the spec this test sent; a rewritten spec fails first."""
        if o.uid(stored):
            self._uid = o.uid(stored)
        assert_no_findings(self.rewritten(stored), what=f"StatefulSet {self.namespace}/{self.name} as sent")
        return as_requested(self.sent, stored)

    def rewritten(self, stored: Obj) -> list[Finding]:
        """Spec fields the server holds differently from what this test sent (``api.spec-rewritten``)."""
        return check_spec_as_sent(self.sent, stored)

    def requested(self) -> Obj:
        """The set as asked for, without reading it back (what the test sent; for checks that need no status)."""
        if self.sent is None:
            raise InvalidScenario(f"expected StatefulSet {self.namespace}/{self.name} deployed first, it is not")
        view: Obj = merge_patch({}, self.sent)  # fields asked to go (kept as None in sent) are absent here
        view["metadata"] = {**view["metadata"], "uid": self._uid}
        return view

    def record_sent(self, body: Any, patch_type: str = "merge") -> None:
        """Note a change this test sent to the set by other means (the scale subresource, a JSON patch)."""
        if self.sent is None:
            return
        if patch_type == "json":
            self.sent = apply_json_patch(self.sent, body)
        else:
            self.sent = merge_patch(self.sent, body, keep_nulls=True)

    # -- read -----------------------------------------------------------------------------------

    def sts(self) -> Obj:
        return self.judged(self.kube.get(STATEFULSETS, self.name, self.namespace))

    def pods(self) -> list[Obj]:
        """Pods whose names this set would use, sorted by ordinal (terminating ones included)."""
        items, _ = self.kube.list(PODS, self.namespace)
        mine = [p for p in items if parse_ordinal(o.name(p), self.name) is not None]
        return sorted(mine, key=lambda p: parse_ordinal(o.name(p), self.name) or 0)

    def pod(self, ordinal: int) -> Obj:
        return faults.pod_of(self.kube, self.namespace, self.name, ordinal)

    def claims(self) -> list[Obj]:
        items, _ = self.kube.list(PVCS, self.namespace)
        return items

    def service(self) -> Obj | None:
        return self.kube.get_or_none(SERVICES, str(o.spec(self.requested()).get("serviceName")), self.namespace)

    def observe(self) -> SetState:
        state = observe_set(self.kube, self.namespace, self.name)
        return dataclasses.replace(state, sts=self.judged(state.sts)) if state.sts is not None else state

    # -- change ---------------------------------------------------------------------------------

    def patch(self, body: Obj | list[Obj], patch_type: Literal["merge", "json"] = "merge") -> Obj:
        """Send a patch to the set; it becomes part of what was asked for, and the answer is judged by it."""
        self.record_sent(body, patch_type)
        return self.judged(self.kube.patch(STATEFULSETS, self.name, body, self.namespace, patch_type=patch_type))

    def scale(self, replicas: int) -> int:
        self.record_sent({"spec": {"replicas": replicas}})
        return faults.scale(self.kube, self.namespace, self.name, replicas)

    def set_template_version(self, version: str) -> Obj:
        """A new template (and so a new revision) that differs only in an annotation."""
        return self.patch({"spec": {"template": {"metadata": {"annotations": {TEMPLATE_VERSION_ANNOTATION: version}}}}})

    def break_template(self, version: str) -> Obj:
        """A template whose pods never become Ready: simulated nodes by label, real ones by probe."""
        template = copy.deepcopy(o.spec(self.requested())["template"])
        template["metadata"].setdefault("labels", {})[SIMULATE_LABEL] = UNREADY
        template["metadata"].setdefault("annotations", {})[TEMPLATE_VERSION_ANNOTATION] = version
        for container in template["spec"]["containers"]:
            if "readinessProbe" in container:
                container["readinessProbe"]["exec"]["command"] = ["test", "-e", NEVER_READY_FILE]
        return self.patch({"spec": {"template": template}})

    def restore_template(self, template: Obj) -> Obj:
        """Put back an earlier template exactly (a rollback); JSON patch so removed keys go too."""
        return self.patch([{"op": "replace", "path": "/spec/template", "value": template}], patch_type="json")

    def make_unready(self, ordinal: int) -> None:
        """Break one pod's readiness: a label on a simulated node, ``rm`` of the ready file on a real one."""
        self._set_ready(ordinal, False)

    def make_ready(self, ordinal: int) -> None:
        self._set_ready(ordinal, True)

    def _set_ready(self, ordinal: int, ready: bool) -> None:
        pod = self.pod(ordinal)
        if o.spec(pod).get("nodeName") in self.simulated_nodes:
            self._simulate_ready(o.name(pod), ready)
            return
        command = ["touch", READY_FILE] if ready else ["rm", "-f", READY_FILE]
        result = exec_in_pod(self.kube, self.namespace, o.name(pod), command, timeout=self.timeouts.pod)
        if not result.ok:
            raise CapabilityMissing(
                "control over pod readiness (simulated nodes or exec into pods)",
                f"`{' '.join(command)}` in {o.name(pod)} exited {result.code}",
            )

    def _simulate_ready(self, name: str, ready: bool) -> None:
        """Simulated nodes: the label tells the simulator which state to keep; we also set it ourselves.

        kwok's stages re-render the pod IPs when they flip an existing pod, which the API server
        rejects (two IPs of one family), so the label alone does not take effect on a running
        pod. Writing the Ready condition through the status subresource, as a kubelet would,
        does; with the label in place no stage flips it back.
        """
        label = None if ready else UNREADY
        self.kube.patch(PODS, name, {"metadata": {"labels": {SIMULATE_LABEL: label}}}, self.namespace)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        word = "True" if ready else "False"
        conditions = [{"type": t, "status": word, "lastTransitionTime": now} for t in ("ContainersReady", "Ready")]
        self.kube.patch(
            PODS, name, {"status": {"conditions": conditions}}, self.namespace, patch_type="strategic", sub="status"
        )

    def fail_pod(self, ordinal: int) -> faults.Hit:
        """Make pod ``ordinal`` end ``Failed``, as a kubelet ends a pod it rejects or stops.

        On a real node ``activeDeadlineSeconds: 1`` makes the kubelet kill it (phase Failed, reason
        DeadlineExceeded); on a simulated one the status a kubelet would write is written, with the
        label that keeps the simulator from marking it Running again.
        """
        pod = self.pod(ordinal)
        name = o.name(pod)
        if o.spec(pod).get("nodeName") not in self.simulated_nodes:
            self.kube.patch(PODS, name, {"spec": {"activeDeadlineSeconds": 1}}, self.namespace)
            return faults.hit(pod)
        self.kube.patch(PODS, name, {"metadata": {"labels": {SIMULATE_LABEL: UNREADY}}}, self.namespace)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        conditions = [
            {"type": t, "status": "False", "reason": "PodFailed", "lastTransitionTime": now}
            for t in ("ContainersReady", "Ready")
        ]
        status = {
            "phase": "Failed",
            "reason": "Rejected",
            "message": "failed on purpose by ordinal",
            "conditions": conditions,
        }
        self.kube.patch(PODS, name, {"status": status}, self.namespace, patch_type="strategic", sub="status")
        return faults.hit(pod)

    # -- wait -----------------------------------------------------------------------------------

    def wait_ready(self, replicas: int | None = None) -> Obj:
        want = self.replicas if replicas is None else replicas
        return self.judged(
            waiting.wait_for_set_ready(
                self.kube, self.namespace, self.name, want, timeout=self.timeouts.ready, broken=self.rewritten
            )
        )

    def wait_rollout(self, partition: int | None = None) -> Obj:
        """Wait for the rollout to reach ``partition``; a pod updated below it ends the wait as the finding."""
        return self.judged(
            waiting.wait_for_rollout_complete(
                self.kube,
                self.namespace,
                self.name,
                timeout=self.timeouts.ready,
                partition=partition,
                replicas=int(o.spec(self.requested()).get("replicas", 1)),
                broken=self._broken_rollout,
            )
        )

    def _broken_rollout(self, stored: Obj) -> list[Finding]:
        found = self.rewritten(stored)
        view = as_requested(self.sent, stored)
        if not found and updated_below_partition(view):
            found = [
                f for f in check_partition(view, self.pods(), settled=False) if f.rule == "revisions.partition-pinned"
            ]
        return found

    def wait_recreated(self, ordinal: int, old_uid: str, *, ready: bool = True) -> Obj:
        """Wait for pod ``ordinal``'s successor; its identity and claims are judged the moment it appears."""
        return waiting.wait_for_pod_recreated(
            self.kube,
            self.namespace,
            pod_name(self.name, ordinal),
            old_uid,
            timeout=self.timeouts.pod,
            ready=ready,
            broken=self.new_pod_findings,
        )

    def new_pod_findings(self, pod: Obj) -> list[Finding]:
        """What a pod the controller made for this set shows against the request (identity, claims)."""
        return check_new_pod(self.requested(), pod, pod_index_label=self.pod_index_label)

    def wait_pod(self, ordinal: int, judge: Callable[[Obj], bool], *, expect: str) -> Obj:
        """Wait until pod ``ordinal`` exists and ``judge`` accepts it."""
        name = pod_name(self.name, ordinal)
        return waiting.wait_for_pod(self.kube, self.namespace, name, judge, expect=expect, timeout=self.timeouts.pod)

    def wait_set(self, judge: Callable[[Obj], bool], *, expect: str) -> Obj:
        """Wait until the set has observed its latest spec and ``judge`` accepts it (the set as asked for)."""
        return self.judged(
            waiting.wait_for_set(
                self.kube,
                self.namespace,
                self.name,
                lambda stored: judge(as_requested(self.sent, stored)),
                expect=expect,
                timeout=self.timeouts.ready,
                broken=self.rewritten,
            )
        )

    def wait_pod_ready(self, ordinal: int, ready: bool = True) -> Obj:
        return self.wait_pod(
            ordinal,
            lambda p: o.pod_ready(p) == ready and not o.terminating(p),
            expect="Ready" if ready else "not Ready",
        )

    def wait_pods_gone(self, ordinals: Iterable[int]) -> None:
        names = [pod_name(self.name, i) for i in ordinals]
        waiting.wait_for_gone(self.kube, PODS, self.namespace, names, timeout=self.timeouts.gone)

    def wait_claims_gone(self, names: Iterable[str]) -> None:
        waiting.wait_for_gone(self.kube, PVCS, self.namespace, list(names), timeout=self.timeouts.gone)

    def wait_claims_follow(
        self, sts: Obj, claims_before: Sequence[Obj], *, event: Event, replicas_after: int = 0
    ) -> list[Obj]:
        """After the set was deleted or scaled: wait until the claims its policy removes are gone.

        A claim the policy keeps disappearing ends the wait at once; one that must go and is still
        there at the deadline is the finding (who owns it, whether any owned claim was collected),
        never a bare timeout. ``sts`` is the set as asked for, taken before the event.
        """
        since = self.clock()
        kind = "deleted" if event == "deleted" else f"scaled to {replicas_after}"
        before = {o.name(c) for c in claims_before}

        def judge(items: list[Obj]) -> Verdict[list[Obj]]:
            found = check_claims_removed(
                sts, claims_before, items, event=event, replicas_after=replicas_after, seconds=self.clock() - since
            )
            lost = [f for f in found if f.seen != "kept" and not str(f.seen).startswith("still present")]
            if lost:
                return waiting.broken_verdict(lost, f"{len(lost)} claims the policy keeps are gone")
            waiting_for = [f for f in found if str(f.seen).startswith("still present")]
            names = sorted(o.name(c) for c in items)
            # A removed claim must be gone, not just terminating (pvc-protection may hold it a moment).
            terminating = [o.name(c) for c in items if o.terminating(c) and o.name(c) in before]
            done = not waiting_for and not terminating
            return Verdict(done, f"claims now: {names}, terminating: {terminating}", items, findings=tuple(waiting_for))

        return waiting.wait_for(
            self.kube,
            Query(PVCS, self.namespace),
            judge,
            expect=f"the claims of {self.namespace}/{self.name} to follow its retention policy once {kind}",
            timeout=self.timeouts.gone,
            clock=self.clock,
        )

    def wait_deleted(self) -> None:
        waiting.wait_for_gone(self.kube, STATEFULSETS, self.namespace, [self.name], timeout=self.timeouts.gone)

    def hold_pods(self, judge: Callable[[list[Obj]], str | None], *, expect: str) -> list[Obj]:
        """Watch this set's pods for the hold window; ``judge`` returns why they are wrong, or None."""

        def violation(items: list[Obj]) -> str | None:
            return judge([p for p in items if parse_ordinal(o.name(p), self.name) is not None])

        seen = waiting.hold(
            self.kube,
            Query(PODS, self.namespace, label_selector=",".join(f"{k}={v}" for k, v in self.selector().items())),
            violation,
            expect=expect,
            seconds=self.timeouts.hold,
        )
        return [p for p in seen if parse_ordinal(o.name(p), self.name) is not None]

    def selector(self) -> dict[str, str]:
        return selector_labels(self.name)

    # -- disrupt --------------------------------------------------------------------------------

    def disrupt_pod(self, how: Disruption, ordinal: int) -> faults.Hit:
        """Delete or evict pod ``ordinal`` (``drain`` is :meth:`draining`, which must be undone)."""
        if how == "delete":
            return faults.delete_pod(self.kube, self.namespace, self.name, ordinal)
        if how == "evict":
            return faults.evict_ordinal(self.kube, self.namespace, self.name, ordinal, timeout=self.timeouts.pod)
        raise InvalidScenario(f"expected a disruption of {', '.join(DISRUPTIONS)}, got {how!r}")

    @contextlib.contextmanager
    def draining(self, ordinal: int, run_id: str) -> Iterator[faults.Drained]:
        """Cordon the node of pod ``ordinal`` and evict this namespace's pods there; uncordon on exit.

        The cordon is written to the node ledger first, so even a crash leaves it for the
        session-end sweep or ``ordinal cleanup``.
        """
        node = faults.node_of(self.kube, self.namespace, self.name, ordinal)
        drained = faults.drain(self.kube, node, run_id, namespace=self.namespace, timeout=self.timeouts.pod)
        try:
            yield drained
        finally:
            if drained.cordoned_by_us:
                uncordon(self.kube, node)
