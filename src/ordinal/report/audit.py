"""``ordinal audit``: read a namespace (or the cluster) once, judge each StatefulSet's shape, say it.

The checks are :mod:`ordinal.checks.audit`'s; this module picks the objects
(:func:`ordinal.observe.inventory.fetch`), turns the findings into the document that ``-o
json``, ``--report DIR`` and the journal carry, and renders that document as text or as a
small self-contained HTML page (the same section ``ordinal report`` shows for the suite's
own workload shape).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from ordinal.checks.audit import KINDS, SetAudit, audit, counts, text_lines
from ordinal.checks.rules import SEVERITIES, Severity, at_least
from ordinal.errors import InvalidScenario
from ordinal.kube.rest import NAMESPACES, STORAGE_CLASSES, ApiError, Forbidden, Kube
from ordinal.kube.sample import sample_manifests
from ordinal.observe.inventory import Inventory, fetch

AUDIT_VERSION = 1
FAIL_ON_DEFAULT: Severity = "error"


def fail_on(text: str) -> Severity:
    for level in SEVERITIES:
        if text == level:
            return level
    raise InvalidScenario(f"expected --fail-on {'|'.join(SEVERITIES)}, got {text!r}")


def check_report_dir(path: Path) -> Path:
    """``--report DIR`` must be new or empty (checked before the cluster is asked)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        what = "a file" if not path.is_dir() else f"{sum(1 for _ in path.iterdir())} entries"
        raise InvalidScenario(f"expected --report to be a new or empty directory, found {what} in {path}")
    return path


def read(kube: Kube, namespace: str | None, names: Sequence[str]) -> tuple[Inventory, list[SetAudit]]:
    """Fetch once and audit; a NAME that is not there, or a namespace that does not exist, is bad input."""
    if namespace is not None:
        try:
            exists = kube.get_or_none(NAMESPACES, namespace) is not None
        except Forbidden:
            exists = True  # may not read namespaces: the lists below still say what is there
        except ApiError:
            exists = True
        if not exists:
            raise InvalidScenario(f"expected namespace {namespace!r} to exist, found no such namespace")
    inventory = fetch(kube, namespace)
    audits = audit(inventory.objects, inventory.unreadable, names=names)
    found = {a.statefulset for a in audits} | {a.statefulset.rsplit("/", 1)[-1] for a in audits}
    missing = [n for n in names if n not in found]
    if missing:
        where = f"namespace {namespace}" if namespace else "the cluster"
        have = ", ".join(sorted(a.statefulset for a in audit(inventory.objects, inventory.unreadable))) or "none"
        raise InvalidScenario(f"expected StatefulSet {', '.join(missing)} in {where}, found only: {have}")
    return inventory, audits


def document(
    audits: Sequence[SetAudit],
    *,
    namespace: str | None,
    target: str,
    level: Severity = FAIL_ON_DEFAULT,
    unreadable: Mapping[str, str] | None = None,
    source: str = "the live objects",
    scope: str = "",
) -> dict[str, Any]:
    """The audit as data: what ``-o json`` prints, ``--report`` writes and ``ordinal report`` embeds."""
    findings = [f for a in audits for f in a.findings]
    failing = at_least(findings, level)
    return {
        "audit_version": AUDIT_VERSION,
        "source": source,
        "scope": scope or (f"namespace {namespace}" if namespace else "all namespaces"),
        "target": target,
        "namespace": namespace,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "fail_on": level,
        "exit_code": 1 if failing else 0,
        "counts": counts(findings),
        "unreadable": dict(unreadable or {}),
        "statefulsets": [a.to_json() for a in audits],
    }


#: Where ``ordinal report`` says its workload-shape audit comes from.
SUITE_SOURCE = (
    "the sample the chaos experiments deploy, as built for StorageClass {cls} (a drain follows, so budgets are "
    "judged strictly); pods, EndpointSlices and placement are audited live before each experiment, in its journal"
)


def suite_shape(kube: Kube, storage_class: str, target: str) -> dict[str, Any]:
    """The audit of the suite's own workload shape: the sample's manifests for ``storage_class``.

    Judged against the cluster's StorageClasses (reclaimPolicy, the default class); nothing
    runs yet, so the checks over pods have nothing to say here and say it in the journals.
    """
    svc, sts, pdb = sample_manifests("web", "ordinal-sample", "report", storage_class=storage_class)
    objects: dict[str, list[Any]] = {kind: [] for kind in KINDS} | {"StatefulSet": [sts], "Service": [svc]}
    objects["PodDisruptionBudget"] = [pdb]
    unreadable: dict[str, str] = {}
    try:
        objects["StorageClass"], _ = kube.list(STORAGE_CLASSES)
    except ApiError as err:
        unreadable["StorageClass"] = str(err).splitlines()[0]
    audits = audit(objects, unreadable, drain=True)
    return document(
        audits,
        namespace=None,
        target=target,
        unreadable=unreadable,
        source=SUITE_SOURCE.format(cls=storage_class),
        scope="the sample's manifests",
    )


def text(doc: Mapping[str, Any], audits: Sequence[SetAudit]) -> list[str]:
    where = doc["scope"]
    if not audits:
        return [f"no StatefulSets in {where} ({doc['target']})"]
    lines = text_lines(audits)
    c = doc["counts"]
    total = ", ".join(f"{c[k]} {k}{'s' if c[k] != 1 and k != 'info' else ''}" for k in ("error", "warning", "info"))
    lines.append(f"{len(audits)} StatefulSet{'s' if len(audits) != 1 else ''} in {where}: {total}")
    lines.append(f"--fail-on {doc['fail_on']}: exit {doc['exit_code']}")
    return lines


# -- HTML ------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, "DejaVu Sans", sans-serif; margin: 0 auto; max-width: 1040px; padding: 1.5rem;
       color: #1d232b; background: #fff; line-height: 1.4; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 1.6rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: .9rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e4e6ea; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f4f5f7; }
"""
#: What :func:`section_html` needs beyond a page's own table styles (``ordinal report`` adds it to its CSS).
SECTION_CSS = """
.sev { display: inline-block; min-width: 4.5rem; text-align: center; border-radius: 3px; font-weight: 600;
       font-size: .8rem; }
.sev-error { background: #f7d4d2; color: #8a1f17; } .sev-warning { background: #fbe6c8; color: #7a4a05; }
.sev-info { background: #eceef1; color: #4a5260; }
.muted, .why { color: #5b6470; font-size: .85rem; }
"""


def _e(value: object) -> str:
    return escape(str(value))


def section_html(doc: Mapping[str, Any], heading: str = "h2") -> str:
    """One table per StatefulSet: severity, rule, object and field, expected vs seen, why it matters."""
    parts = []
    c = doc["counts"]
    parts.append(
        f'<p class="muted">From {_e(doc["source"])}: {_e(doc["scope"])} on {_e(doc["target"])} at '
        f"{_e(doc['at'])}; {c['error']} error(s), {c['warning']} warning(s), {c['info']} info; "
        f"--fail-on {_e(doc['fail_on'])} → exit {doc['exit_code']}</p>"
    )
    for kind, why in sorted((doc.get("unreadable") or {}).items()):
        parts.append(f'<p class="why">Could not list {_e(kind)}s: {_e(why)}</p>')
    if not doc["statefulsets"]:
        parts.append("<p>No StatefulSets.</p>")
    for entry in doc["statefulsets"]:
        parts.append(f"<{heading}>StatefulSet {_e(entry['statefulset'])}</{heading}>")
        if not entry["findings"]:
            parts.append("<p>No findings.</p>")
            continue
        rows = []
        for f in entry["findings"]:
            level = "not checked" if f["rule"] == "audit.not-checked" else f["severity"]
            what = (
                f"{_e(f['expected'])}: {_e(f['seen'])}"
                if f["severity"] == "info"
                else f"expected {_e(f['expected'])}, saw {_e(f['seen'])}"
            )
            rows.append(
                f'<tr><td><span class="sev sev-{_e(f["severity"])}">{_e(level)}</span></td>'
                f"<td><code>{_e(f['rule'])}</code></td><td>{_e(f['subject'])}<br><code>{_e(f['path'])}</code></td>"
                f'<td>{what}<div class="why">{_e(f["why"] or f["promise"])}</div></td></tr>'
            )
        parts.append(
            "<table><thead><tr><th>Severity</th><th>Rule</th><th>Object, field</th><th>Expected vs seen, why</th>"
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )
    return "".join(parts)


def render_html(doc: Mapping[str, Any]) -> str:
    where = doc["scope"]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>ordinal audit: {_e(where)}</title><style>{_CSS}{SECTION_CSS}</style></head><body>"
        f"<h1>Workload shape audit: {_e(where)}</h1>{section_html(doc)}</body></html>\n"
    )


def write(out: Path, doc: Mapping[str, Any]) -> list[Path]:
    """findings.json and index.html in ``out`` (checked new or empty before the run)."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "findings.json", out / "index.html"]
    files[0].write_text(json.dumps(doc, indent=1) + "\n")
    files[1].write_text(render_html(doc))
    return files
