"""Failure dumps: what a person needs to diagnose a failed test from the report alone.

Collected only when a test failed (never on success, to keep shared clusters quiet): the
StatefulSets as YAML (status included, managedFields dropped), a pod table, the claims and the
namespace's recent events. Errors while collecting go into the dump instead of hiding the
test's own failure.
"""

from __future__ import annotations

from collections.abc import Callable

import yaml

from ordinal.errors import OrdinalError
from ordinal.kube import objects as o
from ordinal.kube.rest import EVENTS, PODS, PVCS, STATEFULSETS, ApiError, Kube
from ordinal.labels import REVISION_LABEL
from ordinal.types import Obj

EVENT_LIMIT = 40


def dump(kube: Kube, namespace: str) -> dict[str, str]:
    """Section title → text, for report sections and allure attachments."""
    sections: dict[str, str] = {}
    parts: dict[str, Callable[[], str]] = {
        "statefulsets": lambda: _sets(kube, namespace),
        "pods": lambda: _pods(kube, namespace),
        "claims": lambda: _claims(kube, namespace),
        "events": lambda: _events(kube, namespace),
    }
    for title, collect in parts.items():
        try:
            sections[title] = collect()
        except (OrdinalError, ApiError) as err:
            sections[title] = f"(could not collect: {err})"
    return sections


def _trim(obj: Obj) -> Obj:
    meta = {k: v for k, v in o.meta(obj).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def _sets(kube: Kube, namespace: str) -> str:
    items, _ = kube.list(STATEFULSETS, namespace)
    return yaml.safe_dump_all([_trim(s) for s in items], sort_keys=False) if items else "(none)"


def table(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the first row is the header."""
    if len(rows) <= 1:
        return "(none)"
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _pods(kube: Kube, namespace: str) -> str:
    items, _ = kube.list(PODS, namespace)
    rows = [["NAME", "UID", "PHASE", "READY", "NODE", "IP", "REVISION", "DELETING"]]
    for pod in sorted(items, key=o.name):
        rows.append(
            [
                o.name(pod),
                o.uid(pod)[:8],
                str(o.status(pod).get("phase")),
                str(o.pod_ready(pod)),
                str(o.spec(pod).get("nodeName") or "-"),
                str(o.pod_ip(pod) or "-"),
                o.labels(pod).get(REVISION_LABEL, "-"),
                "yes" if o.terminating(pod) else "",
            ]
        )
    return table(rows)


def _claims(kube: Kube, namespace: str) -> str:
    items, _ = kube.list(PVCS, namespace)
    rows = [["NAME", "UID", "PHASE", "VOLUME", "OWNERS"]]
    for claim in sorted(items, key=o.name):
        owners = ",".join(f"{r.get('kind')}/{r.get('name')}" for r in o.owner_refs(claim)) or "-"
        rows.append(
            [
                o.name(claim),
                o.uid(claim)[:8],
                str(o.status(claim).get("phase")),
                str(o.spec(claim).get("volumeName")),
                owners,
            ]
        )
    return table(rows)


def _events(kube: Kube, namespace: str) -> str:
    items, _ = kube.list(EVENTS, namespace)

    def when(event: Obj) -> str:
        return str(event.get("lastTimestamp") or event.get("eventTime") or o.meta(event).get("creationTimestamp") or "")

    lines = []
    for event in sorted(items, key=when)[-EVENT_LIMIT:]:
        involved = event.get("involvedObject") or {}
        lines.append(
            f"{when(event)} {event.get('type')} {event.get('reason')} "
            f"{involved.get('kind')}/{involved.get('name')}: {str(event.get('message') or '').strip()}"
        )
    return "\n".join(lines) or "(none)"
