"""The audit's shape checks: each finding from a set built to violate it, and none from a well-shaped one.

Every workload starts from the project's own builders (the sample the experiments deploy, or
``statefulset_manifest``) and the server-side shapes in ``factories``; each test breaks one
thing and names the rule that MUST say so.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from factories import NS, endpoint_slice, node, pod, pv, pvc, set_uid

from ordinal.checks.audit import (
    CLASS,
    KINDS,
    NODE,
    PDB,
    POD,
    PV,
    PVC,
    SERVICE,
    SLICE,
    STATEFULSET,
    audit,
    count_text,
    data_sentence,
    disruptions_allowed,
    finding_json,
    text_lines,
)
from ordinal.checks.rules import RULES, at_least, severity
from ordinal.kube.manifests import pdb_manifest, selector_labels, statefulset_manifest
from ordinal.kube.sample import sample_manifests
from ordinal.labels import ZONE_LABEL
from ordinal.types import Finding, Obj

Objects = dict[str, list[Obj]]


def storage_class(name: str = "ordinal-local", reclaim: str = "Delete", *, default: bool = False) -> Obj:
    meta: Obj = {"name": name}
    if default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta, "reclaimPolicy": reclaim}


def zoned(name: str, zone: str) -> Obj:
    found = node(name)
    found["metadata"]["labels"] = {ZONE_LABEL: zone, "kubernetes.io/hostname": name}
    return found


def zone_pinned(volume: Obj, zone: str) -> Obj:
    volume["spec"]["nodeAffinity"] = {
        "required": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": ZONE_LABEL, "operator": "In", "values": [zone]}]}]
        }
    }
    return volume


def served(sts: Obj) -> Obj:
    """What the server adds to a set we sent: its UID (the factories' pods point their ownerRef at it)."""
    sts["metadata"]["uid"] = set_uid(sts["metadata"]["name"])
    sts["metadata"]["generation"] = 1
    return sts


def budget_status(pdb: Obj, allowed: int, healthy: int = 3) -> Obj:
    pdb["metadata"]["generation"] = 1
    pdb["status"] = {
        "observedGeneration": 1,
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": healthy - allowed,
    }
    return pdb


def shaped(replicas: int = 3, **options: Any) -> Objects:
    """The sample as the experiments deploy it, running: one pod per node, each in its zone, budget of one."""
    svc, sts, pdb = sample_manifests("web", NS, "r1", replicas=replicas, storage_class="ordinal-zonal", **options)
    pods = [pod(i, node=f"node-{i}") for i in range(replicas)]
    claims = [pvc(i) for i in range(replicas)]
    return {
        STATEFULSET: [served(sts)],
        SERVICE: [svc],
        SLICE: [endpoint_slice(svc, pods)],
        POD: pods,
        PVC: claims,
        PV: [zone_pinned(pv(c), f"zone-{i}") for i, c in enumerate(claims)],
        CLASS: [storage_class("ordinal-zonal")],
        PDB: [budget_status(pdb, 1)],
        NODE: [zoned(f"node-{i}", f"zone-{i}") for i in range(replicas)],
    }


def findings(objects: Objects, unreadable: dict[str, str] | None = None, *, drain: bool = False) -> list[Finding]:
    (result,) = audit(objects, unreadable, drain=drain)
    return result.findings


def problems(objects: Objects, **kw: Any) -> list[str]:
    """Rules of every finding at warning or above (the data sentence is always there, as info)."""
    return [f.rule for f in at_least(findings(objects, **kw), "warning")]


def the(rule: str, objects: Objects, **kw: Any) -> Finding:
    found = [f for f in findings(objects, **kw) if f.rule == rule]
    assert len(found) == 1, [str(f) for f in findings(objects, **kw)]
    return found[0]


def test_a_well_shaped_set_has_no_findings_but_what_deleting_does_to_its_data() -> None:
    """The sample, running spread over nodes and zones, MUST audit with no warning and no error."""
    found = findings(shaped())
    assert [f.rule for f in found] == ["audit.data-on-delete"]
    assert severity(found[0].rule) == "info"


def test_the_sample_as_built_audits_clean_of_errors_before_it_runs() -> None:
    """The objects ordinal deploys itself MUST carry no error finding, with every retention policy."""
    for policy in (("Retain", "Retain"), ("Delete", "Delete")):
        svc, sts, pdb = sample_manifests("web", NS, "r1", when_deleted=policy[0], when_scaled=policy[1])
        objects: Objects = {k: [] for k in KINDS} | {STATEFULSET: [sts], SERVICE: [svc], PDB: [pdb]}
        assert at_least(findings(objects, drain=True), "warning") == []


# -- the governing Service -----------------------------------------------------------------------


def test_a_service_name_naming_no_service_is_an_error() -> None:
    objects = shaped()
    objects[SERVICE] = []
    found = the("audit.service-exists", objects)
    assert (found.subject, found.path, severity(found.rule)) == (f"statefulset {NS}/web", "spec.serviceName", "error")
    assert found.seen == f"no Service 'web' in {NS}"


def test_a_service_with_a_cluster_ip_is_not_headless() -> None:
    objects = shaped()
    objects[SERVICE][0]["spec"]["clusterIP"] = "10.96.0.20"
    found = the("audit.service-headless", objects)
    assert (found.subject, found.path, found.expected, found.seen) == (
        f"service {NS}/web",
        "spec.clusterIP",
        "None",
        "10.96.0.20",
    )


def test_a_service_whose_selector_misses_the_pods_is_an_error() -> None:
    objects = shaped()
    objects[SERVICE][0]["spec"]["selector"] = selector_labels("db")
    found = the("audit.service-selects-pods", objects)
    assert found.seen == selector_labels("db") and severity(found.rule) == "error"


def test_a_ready_pod_published_without_its_hostname_is_found() -> None:
    objects = shaped()
    del objects[SLICE][0]["endpoints"][1]["hostname"]
    objects[SLICE][0]["endpoints"] = objects[SLICE][0]["endpoints"][:2]
    found = [f for f in findings(objects) if f.rule == "audit.endpoint-hostnames"]
    assert [(f.subject, f.seen) for f in found] == [
        (f"pod {NS}/web-1", "hostname None"),
        (f"pod {NS}/web-2", "no endpoint for the pod"),
    ]


# -- storage shape -------------------------------------------------------------------------------


def test_claim_templates_on_read_write_many_are_the_shared_storage_shape() -> None:
    objects = shaped()
    objects[STATEFULSET][0]["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] = ["ReadWriteMany"]
    found = the("audit.claim-template-rwx", objects)
    assert (found.path, found.seen) == ("spec.volumeClaimTemplates[name=data].spec.accessModes", ["ReadWriteMany"])


def test_a_set_without_any_per_pod_state_is_a_deployment_in_disguise() -> None:
    objects = shaped()
    objects[STATEFULSET] = [served(statefulset_manifest("web", NS, claim_template=None))]
    objects[STATEFULSET][0]["spec"]["template"]["spec"]["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    found = the("audit.no-per-pod-state", objects)
    assert found.seen == "no claim templates and no persistent volumes (pod volumes: emptyDir)"
    assert "audit.data-on-delete" not in [f.rule for f in findings(objects)]  # no claims, no sentence


# -- the budget ----------------------------------------------------------------------------------


def test_no_budget_over_the_pods_is_found() -> None:
    objects = shaped()
    objects[PDB] = []
    found = the("audit.pdb-missing", objects)
    assert (found.subject, found.seen) == (f"statefulset {NS}/web", "no budget in the namespace")


def test_a_budget_allowing_no_disruption_warns_and_blocks_a_drain() -> None:
    """Now 0 allowed: a warning for the audit, an error when a drain is about to follow."""
    objects = shaped()
    budget_status(objects[PDB][0], 0)
    found = the("audit.pdb-allows-none", objects)
    assert (found.subject, found.path, severity(found.rule)) == (
        f"pdb {NS}/web",
        "status.disruptionsAllowed",
        "warning",
    )
    assert found.seen == "0 (currentHealthy 3, desiredHealthy 3)"
    assert severity(the("audit.pdb-blocks-drain", objects, drain=True).rule) == "error"


def test_a_budget_not_observed_yet_is_judged_from_its_spec() -> None:
    """minAvailable equal to replicas can never allow a disruption, whatever the pods do."""
    budget = pdb_manifest("web", NS, selector_labels("web"), min_available=3)
    assert disruptions_allowed(budget, 3) == (0, "minAvailable 3 of 3 replicas, 3 healthy")
    assert disruptions_allowed(pdb_manifest("w", NS, {"a": "b"}, max_unavailable="50%"), 3)[0] == 2
    objects = shaped()
    objects[PDB] = [budget]
    assert "audit.pdb-allows-none" in problems(objects)


def test_a_budget_status_written_before_the_last_pod_was_ready_is_stale() -> None:
    """Status 0 of 2 healthy while 3 pods are Ready now: the spec (minAvailable 2) allows one."""
    objects = shaped()
    budget_status(objects[PDB][0], 0, healthy=2)
    assert "audit.pdb-blocks-drain" not in problems(objects, drain=True)
    objects[POD][2]["status"]["conditions"][1]["status"] = "False"  # now only 2 Ready: the status is right
    assert "audit.pdb-blocks-drain" in problems(objects, drain=True)


def test_a_budget_selecting_pods_of_other_workloads_is_too_wide() -> None:
    objects = shaped()
    objects[PDB] = [
        budget_status(pdb_manifest("all", NS, {"app.kubernetes.io/created-by": "ordinal"}, max_unavailable=1), 1)
    ]
    for p in objects[POD]:
        p["metadata"]["labels"]["app.kubernetes.io/created-by"] = "ordinal"
    other = pod(0, "cache", node="node-9")
    other["metadata"]["labels"]["app.kubernetes.io/created-by"] = "ordinal"
    objects[POD].append(other)
    found = the("audit.pdb-selector-wide", objects)
    assert (found.subject, found.seen) == (f"pdb {NS}/all", "also 1 other pods: cache-0")


# -- rollout gates -------------------------------------------------------------------------------


def test_pods_without_a_readiness_probe_gate_rollouts_on_nothing() -> None:
    objects = shaped()
    del objects[STATEFULSET][0]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    found = the("audit.readiness-probe", objects)
    assert (found.path, found.seen) == ("spec.template.spec.containers[*].readinessProbe", "none (main)")


@pytest.mark.parametrize(("max_unavailable", "flagged"), [(2, True), ("50%", False), ("67%", True), (1, False)])
def test_min_ready_seconds_zero_with_several_pods_at_once_is_found(max_unavailable: int | str, flagged: bool) -> None:
    """maxUnavailable counts as the controller rounds it: 50% of 3 is 1 pod, 67% is 2."""
    objects = shaped()
    objects[STATEFULSET][0]["spec"]["updateStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": max_unavailable},
    }
    assert ("audit.min-ready-seconds" in problems(objects)) is flagged
    objects[STATEFULSET][0]["spec"]["minReadySeconds"] = 5
    assert "audit.min-ready-seconds" not in problems(objects)


# -- placement -----------------------------------------------------------------------------------


def test_every_replica_on_one_node_is_found() -> None:
    objects = shaped()
    for p in objects[POD]:
        p["spec"]["nodeName"] = "node-0"
    found = the("audit.spread-nodes", objects)
    assert (found.subject, found.seen) == (f"statefulset {NS}/web", "all 3 pods on node node-0")


def test_every_replica_in_one_zone_is_found_when_the_volumes_are_zonal() -> None:
    objects = shaped()
    objects[NODE] = [zoned(f"node-{i}", "zone-a") for i in range(3)]
    found = the("audit.spread-zones", objects)
    assert (found.path, found.seen) == (f"nodes' labels[{ZONE_LABEL}]", "all in zone-a")
    for volume in objects[PV]:
        del volume["spec"]["nodeAffinity"]  # network storage: a zone outage strands no data
    assert "audit.spread-zones" not in problems(objects)


def test_a_template_that_asks_for_no_spreading_is_found() -> None:
    objects = shaped()
    del objects[STATEFULSET][0]["spec"]["template"]["spec"]["affinity"]
    assert the("audit.anti-affinity", objects).expected == "spreading over kubernetes.io/hostname (or a zone)"
    objects[STATEFULSET][0]["spec"]["template"]["spec"]["topologySpreadConstraints"] = [{"topologyKey": ZONE_LABEL}]
    assert "audit.anti-affinity" not in problems(objects)


# -- data on delete, leftovers ---------------------------------------------------------------------


def test_what_deleting_and_scaling_down_does_to_the_data_is_one_sentence() -> None:
    found = the("audit.data-on-delete", shaped())
    assert found.expected == "whenDeleted=Retain, whenScaled=Retain; StorageClass ordinal-zonal reclaimPolicy Delete"
    assert found.seen == (
        "deleting the set keeps its claims and their data; scaling down keeps the removed ordinals' claims, "
        "so scaling up again mounts the same data; a kept claim deleted by hand deletes its volume and the data."
    )
    assert data_sentence("Delete", "Delete", "Retain") == (
        "deleting the set deletes its claims, but the volumes and the data stay, Released (reclaimPolicy Retain); "
        "scaling down deletes the removed ordinals' claims, but the volumes and the data stay, Released "
        "(reclaimPolicy Retain), so scaling up again starts them empty."
    )


def test_the_default_class_decides_when_the_template_names_none() -> None:
    objects = shaped()
    del objects[STATEFULSET][0]["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"]
    objects[CLASS] = [storage_class("ordinal-zonal"), storage_class("keep", "Retain", default=True)]
    assert "StorageClass keep reclaimPolicy Retain" in the("audit.data-on-delete", objects).expected


def test_a_claim_left_over_from_a_scale_down_is_found_with_its_size() -> None:
    objects = shaped()
    leftover = pvc(3)
    leftover["status"]["capacity"] = {"storage": "20Gi"}
    objects[PVC].append(leftover)
    found = the("audit.claim-leftover", objects)
    assert (found.subject, found.seen) == (f"pvc {NS}/data-web-3", "no pod mounts it; 20Gi kept")
    assert "ordinals 0..2" in str(found.expected)


# -- what could not be read ----------------------------------------------------------------------


def test_a_forbidden_list_is_not_checked_naming_the_permission_never_fine() -> None:
    """Without Pods nothing about them is claimed: each check that needs them says so, with the rule to add."""
    objects = shaped()
    why = "forbidden: list pods in namespace ord-test needs the ClusterRole rule ... (see `ordinal rbac`)"
    del objects[POD]
    found = [f for f in findings(objects, {POD: why}) if f.rule == "audit.not-checked"]
    assert {f.path for f in found} == {
        "EndpointSlice hostnames",
        "PodDisruptionBudget selector",
        "placement",
        "leftover claims",
    }
    assert {f.seen for f in found} == {why} and {f.expected for f in found} == {"permission to list Pods"}
    assert count_text(findings(objects, {POD: why})).endswith("4 not checked")


def test_every_kind_forbidden_but_the_sets_still_audits_what_the_set_says() -> None:
    objects: Objects = {STATEFULSET: [served(statefulset_manifest("web", NS, readiness_file=None))]}
    unreadable = {kind: f"forbidden: list {kind}" for kind in KINDS if kind != STATEFULSET}
    rules = {f.rule for f in findings(objects, unreadable)}
    assert {"audit.not-checked", "audit.readiness-probe", "audit.anti-affinity"} <= rules
    assert not rules & {"audit.service-exists", "audit.pdb-missing"}  # unknown, not missing


# -- reading the findings ------------------------------------------------------------------------


def test_names_choose_the_sets_and_each_finding_carries_severity_and_why() -> None:
    objects = shaped()
    other = copy.deepcopy(objects[STATEFULSET][0])
    other["metadata"]["name"] = "db"
    objects[STATEFULSET].append(other)
    assert [a.statefulset for a in audit(objects)] == [f"{NS}/db", f"{NS}/web"]
    assert [a.statefulset for a in audit(objects, names=["web"])] == [f"{NS}/web"]
    objects[SERVICE] = []
    (result,) = audit(objects, names=[f"{NS}/web"])
    data = finding_json(result.findings[0])
    assert data["severity"] == "error" and data["why"] == RULES["audit.service-exists"].why
    lines = text_lines([result])
    assert lines[0] == f"statefulset {NS}/web: 1 error, 1 info"
    assert lines[1].startswith("  error    audit.service-exists  statefulset ord-test/web spec.serviceName: expected")
    assert lines[2].strip().startswith("why: without its Service")


def test_every_audit_rule_has_a_severity_and_the_ones_to_act_on_say_why() -> None:
    audit_rules = {k: r for k, r in RULES.items() if k.startswith("audit.")}
    assert {r.severity for r in audit_rules.values()} == {"error", "warning", "info"}
    assert [k for k, r in audit_rules.items() if r.severity != "info" and not r.why] == []
