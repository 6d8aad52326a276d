"""ordinal's sample workload, and the control that deploys it before an experiment runs.

Chaos Toolkit has no setup phase before the steady-state hypothesis: the system is
supposed to exist already. So that every experiment also runs out of the box, this
control deploys the sample (headless Service, StatefulSet with per-pod claims, a PDB of
``replicas - 1``) into a fresh namespace before the hypothesis, writes that namespace into
the run's configuration (so ``${namespace}`` resolves to it) and removes it at the end.
Given ``--var namespace=<ns>``, it deploys nothing: the experiment then runs its read-only
probes and its one fault against the workload already there.

Either way it then audits the workload's shape (:mod:`ordinal.checks.audit`) and records the
audit in the journal (``ordinal.audit``). An ``error`` finding (no headless Service; before a
drain, a budget that allows no disruption) stops the run before the hypothesis and the fault,
with that finding as its one line, unless ``--var audit=warn``.

The same library functions back the ``deploy_sample`` / ``remove_sample`` actions (removal is
:func:`ordinal.act.namespaces.remove_namespace`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaoslib.exceptions import InterruptExecution

from ordinal import capabilities
from ordinal.act.namespaces import create_namespace, remove_namespace
from ordinal.chaos.boundary import first_line
from ordinal.chaos.controls import stop_before_fault
from ordinal.chaos.session import current
from ordinal.checks.audit import SetAudit
from ordinal.checks.audit import audit as audit_shape
from ordinal.checks.rules import RULES
from ordinal.errors import InvalidScenario, OrdinalError
from ordinal.kube import objects as o
from ordinal.kube.manifests import DEFAULT_IMAGE, DEFAULT_UID, parse_run_as_user
from ordinal.kube.rest import NODES, ApiError, Kube
from ordinal.kube.sample import sample_manifests
from ordinal.labels import NODE_KIND_LABEL, REAL_NODE_KIND, SIMULATED_NODE_KIND
from ordinal.observe.inventory import fetch
from ordinal.observe.waiting import wait_for_set_ready
from ordinal.target import local_node_image
from ordinal.types import Obj

log = logging.getLogger("chaostoolkit")

NAMESPACE_PREFIX = "ord-chaos"


def refused_by_admission(kube: Kube, manifests: list[Obj]) -> str | None:
    """Why the cluster's admission would refuse the sample's pods (a dry run of one), or None."""
    sts = next(m for m in manifests if m["kind"] == "StatefulSet")
    return capabilities.admission_refusal(kube, capabilities.pod_of_template(sts, f"{o.name(sts)}-0"))


def deploy(
    kube: Kube,
    namespace: str,
    name: str,
    run_id: str,
    *,
    timeout: float = 120.0,
    **options: Any,
) -> list[str]:
    """Create the sample in ``namespace`` and wait until it is ready; returns what was created.

    A dry run of its pod comes first: a cluster whose admission refuses it fails at once, in one
    line naming the policy and the fields, with nothing created.
    """
    manifests = sample_manifests(name, namespace, run_id, **options)
    refusal = refused_by_admission(kube, manifests)
    if refusal:
        raise InvalidScenario(f"expected the cluster to admit the sample's pods, but it refused them: {refusal}")
    created = []
    for manifest in manifests:
        kube.create_object(manifest)
        created.append(f"{manifest['kind'].lower()}/{o.name(manifest)}")
    wait_for_set_ready(kube, namespace, name, int(options.get("replicas", 3)), timeout=timeout)
    return created


def parse_node_selector(text: str) -> dict[str, str]:
    """``"k=v,k2=v2"`` (the ``node_selector`` variable) → a nodeSelector; "" → {}."""
    selector: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise InvalidScenario(f"expected node_selector as key=value[,key=value], got {text!r}")
        selector[key.strip()] = value.strip()
    return selector


#: Activities that read or write data inside the pods: they need exec, i.e. nodes that run containers.
EXEC_ACTIVITIES = frozenset({"data_token_intact", "write_data_tokens"})
#: Faults that take a whole node away: with the sample's budget of one, each pod needs a node of its own.
NODE_FAULTS = frozenset({"drain_node_of", "lose_node_of", "stop_node_of"})
#: Faults only a simulated node can suffer (a real kubelet is not silenced this way).
SIMULATED_FAULTS = frozenset({"lose_node_of"})
#: Faults that evict through the eviction API: a budget that allows no disruption makes them hang.
DRAIN_FAULTS = frozenset({"drain_node_of"})
#: ``--var audit=…``: ``error`` stops the run on an error finding, ``warn`` only records it.
AUDIT_MODES = ("error", "warn")


@dataclass(frozen=True)
class Needs:
    """What an experiment asks of the nodes its sample runs on."""

    exec: bool = True  # some probe reads data inside the pods
    node_fault: bool = True  # the method takes a node away
    simulated_fault: bool = False  # ... one that only a simulated node can suffer

    @classmethod
    def of(cls, experiment: Mapping[str, Any] | None) -> Needs:
        """Read from the experiment's hypothesis and method (what ``before_experiment_control`` is given)."""
        if not experiment:
            return cls()
        hypothesis = experiment.get("steady-state-hypothesis") or {}
        steps = [*(hypothesis.get("probes") or []), *(experiment.get("method") or [])]
        funcs = {str((s.get("provider") or {}).get("func") or "") for s in steps if isinstance(s, Mapping)}
        return cls(bool(funcs & EXEC_ACTIVITIES), bool(funcs & NODE_FAULTS), bool(funcs & SIMULATED_FAULTS))


@dataclass(frozen=True)
class Placement:
    image: str
    selector: dict[str, str]
    #: Why the sample could not go where every probe can run ("" when it could); probes then say "not checked".
    unchecked: str = ""


def placement(
    kube: Kube, target_local: bool, replicas: int, image: str, node_selector: str, needs: Needs | None = None
) -> Placement:
    """The sample's image and nodeSelector: as given, else where every probe of the hypothesis can run.

    Real nodes pull nothing, so on the local cluster the image defaults to the one they hold
    (``ORDINAL_IMAGE`` wins everywhere). A hypothesis that reads data back needs exec, so with
    real nodes among simulated ones the sample goes onto the real ones: all of them onto one
    if need be, unless the method takes a node away: then each pod needs a real node of its
    own (a drain of a node holding several pods would have to evict more than the budget of
    one allows), and with fewer the pods stay spread over every node and the reason is
    returned, for the log, the journal and the probes' "not checked".
    """
    needs = needs or Needs()
    chosen = image or os.environ.get("ORDINAL_IMAGE", "")
    if not chosen and target_local:
        chosen = local_node_image() or ""
    chosen = chosen or DEFAULT_IMAGE
    if node_selector:
        return Placement(chosen, parse_node_selector(node_selector))
    nodes, _ = kube.list(NODES)
    _, _, simulated, real = capabilities.node_summary(nodes)
    if not simulated:
        return Placement(chosen, {})  # every node runs containers (or none is known to be simulated)
    on_real = Placement(chosen, {NODE_KIND_LABEL: REAL_NODE_KIND})
    if not needs.exec:
        return on_real if len(real) >= replicas else Placement(chosen, {})
    if needs.simulated_fault:
        # The fault can only hit a simulated node: keep every pod on one, whatever the others are.
        why = "the fault silences a simulated node, where nothing can be exec'd"
        selector = {NODE_KIND_LABEL: SIMULATED_NODE_KIND} if real else {}
        return Placement(chosen, selector, f"needs: exec into pods ({why})")
    if not real:
        why = "no node of the cluster runs containers (all are simulated)"
    elif needs.node_fault and len(real) < replicas:
        why = (
            f"{len(real)} real node(s) for {replicas} replicas: the method takes a node away, so each pod needs "
            "a real node of its own (ordinal cluster up --real-nodes N)"
        )
    else:
        return on_real
    return Placement(chosen, {}, f"needs: exec into pods ({why})")


def fresh_namespace(kube: Kube, run_id: str) -> str:
    return create_namespace(kube, run_id, prefix=NAMESPACE_PREFIX)


# -- the control -------------------------------------------------------------------------------

#: Namespaces this process created for the sample, removed at the latest in cleanup_control.
_created: list[tuple[Kube, str]] = []
#: Where this process placed the sample (for the journal).
_placed: list[Placement] = []
#: The audit taken before the fault (for the journal).
_audited: list[dict[str, Any]] = []


def drains(experiment: Mapping[str, Any] | None) -> bool:
    """Does the method evict pods through the eviction API (so the budget must allow a disruption)?"""
    steps = (experiment or {}).get("method") or []
    return any(
        str((s.get("provider") or {}).get("func") or "") in DRAIN_FAULTS for s in steps if isinstance(s, Mapping)
    )


def audit_before_fault(kube: Kube, namespace: str, name: str, *, drain: bool) -> tuple[list[SetAudit], dict[str, Any]]:
    """The set's shape as the journal records it: findings with severity and why, and what could not be read."""
    inventory = fetch(kube, namespace)
    audits = audit_shape(inventory.objects, inventory.unreadable, names=[name], drain=drain)
    record = {
        "statefulset": f"{namespace}/{name}",
        "before": "a drain" if drain else "the fault",
        "found": bool(audits),
        "unreadable": inventory.unreadable,
        "findings": audits[0].to_json()["findings"] if audits else [],
    }
    return audits, record


def _gate(
    session: Any, configuration: Mapping[str, Any], secrets: Mapping[str, Any] | None, context: Obj, mode: str
) -> None:
    """Audit the target set; stop the run on an error finding unless ``mode`` is ``warn``."""
    namespace = str(configuration["namespace"])
    name = str(configuration.get("statefulset") or "web")
    try:
        kube = session.kube(configuration, secrets)
        audits, record = audit_before_fault(kube, namespace, name, drain=drains(context))
    except (OrdinalError, ApiError) as err:
        raise stop_before_fault(
            "control ordinal-sample audit", f"could not audit {namespace}/{name}: {first_line(err)}"
        ) from err
    record["mode"] = mode
    _audited[:] = [record]
    if not audits:
        log.warning(
            "ordinal-sample: audit: no StatefulSet %s/%s to audit (the hypothesis will say more)", namespace, name
        )
        return
    errors = audits[0].at_least("error")
    for finding in audits[0].at_least("warning"):
        log.warning("ordinal-sample: audit: %s", finding)
    if errors and mode == "error":
        finding = errors[0]
        why = RULES[finding.rule].why if finding.rule in RULES else ""
        more = f" (+{len(errors) - 1} more error(s) in the journal)" if len(errors) > 1 else ""
        text = f"{finding}: {why}{more}" if why else f"{finding}{more}"
        raise stop_before_fault("audit before the fault", text)
    if errors:
        log.warning("ordinal-sample: audit=warn: going on despite %d error finding(s)", len(errors))


def configure_control(**_: Any) -> None:
    """Nothing to set up before the run: chaoslib swallows errors here, so the work is done later."""


def before_experiment_control(
    context: Obj,
    configuration: dict[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    replicas: int = 3,
    storage_class: str = "",
    when_deleted: str = "Retain",
    when_scaled: str = "Retain",
    unreachable_toleration: int = -1,
    timeout: float = 120.0,
    image: str = "",
    node_selector: str = "",
    run_as_user: str = "",
    audit: str = "error",
    **_: Any,
) -> None:
    """Deploy the sample in a fresh namespace unless ``namespace`` names an existing workload; audit it.

    ``run_as_user``: the pods' UID, or ``platform`` (else ``ORDINAL_RUN_AS_USER``, else 65532).
    ``audit``: ``error`` (stop on an error finding) or ``warn`` (record and go on).
    """
    if configuration is None:
        raise InterruptExecution("ordinal-sample: expected the run's configuration, got none")
    _audited.clear()
    mode = str(audit or "error")
    if mode not in AUDIT_MODES:
        raise stop_before_fault("control ordinal-sample", f"expected --var audit=error|warn, got {mode!r}")
    if configuration.get("namespace"):
        log.info("ordinal-sample: using the existing workload in namespace %s", configuration["namespace"])
        _gate(current(), configuration, secrets, context, mode)
        return
    session = current()
    name = str(configuration.get("statefulset") or "web")
    try:
        kube = session.kube(configuration, secrets)
        local = session.target(configuration, secrets).local
        placed = placement(kube, local, int(replicas), str(image), str(node_selector), Needs.of(context))
        chosen_image, selector = placed.image, placed.selector
        _placed[:] = [placed]
        namespace = fresh_namespace(kube, session.run_id)
        _created.append((kube, namespace))
        configuration["namespace"] = namespace
        session.namespace = namespace
        created = deploy(
            kube,
            namespace,
            name,
            session.run_id,
            timeout=float(timeout),
            replicas=int(replicas),
            storage_class=str(storage_class),
            when_deleted=str(when_deleted),
            when_scaled=str(when_scaled),
            unreachable_toleration=int(unreachable_toleration),
            image=chosen_image,
            node_selector=selector,
            run_as_user=parse_run_as_user(str(run_as_user or os.environ.get("ORDINAL_RUN_AS_USER") or DEFAULT_UID)),
        )
    except (OrdinalError, ApiError) as err:
        _remove_created()  # nothing of a sample that could not start stays behind
        raise InterruptExecution(f"ordinal-sample: could not deploy the sample: {first_line(err)}") from err
    where = f" on nodes {selector}" if selector else ""
    log.info(
        "ordinal-sample: deployed %s in namespace %s (image %s%s)", ", ".join(created), namespace, chosen_image, where
    )
    if placed.unchecked:
        log.warning("ordinal-sample: the data inside the pods will not be checked: %s", placed.unchecked)
    _gate(session, configuration, secrets, context, mode)


def after_experiment_control(context: Obj, state: dict[str, Any] | None = None, **_: Any) -> None:
    """Remove the sample's namespace and say so in the journal."""
    removed, errors = _remove_created()
    if isinstance(state, dict):
        section = state.setdefault("ordinal", {})
        section["sample"] = {"removed": removed, "errors": errors}
        if _placed:
            placed = _placed[0]
            section["placement"] = {
                "image": placed.image,
                "node_selector": placed.selector,
                "unchecked": placed.unchecked,
            }
        if errors:
            section.setdefault("problems", []).append(f"sample cleanup: {'; '.join(errors)}")
        if _audited:
            section["audit"] = _audited[0]


def cleanup_control() -> None:
    """Last resort: remove whatever after_experiment_control did not get to."""
    _remove_created()


def _remove_created() -> tuple[list[str], list[str]]:
    removed: list[str] = []
    errors: list[str] = []
    while _created:
        kube, namespace = _created.pop()
        try:
            errs = remove_namespace(kube, namespace)
        except (OrdinalError, ApiError) as err:
            errs = [f"namespace/{namespace}: {first_line(err)}"]
        errors += errs
        if not errs:
            removed.append(f"namespace/{namespace}")
    for text in errors:
        log.warning("ordinal-sample: %s", text)
    return removed, errors
