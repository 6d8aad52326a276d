"""index.html: the report for a person, rendered from report.json's data alone.

One file with inline CSS and inline SVG; no scripts, fonts, images or links that fetch
anything, so it opens from a file, an e-mail attachment or an air-gapped share and shows the
same thing. Sections, top to bottom: the verdict per promise area (with every skip reason),
the environment, the figures as charts, the failures with their expected-vs-seen messages
and timelines, the chaos experiments, the workload-shape audit, each promise, the pod timeline
of every test, and the files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from ordinal.report import audit, charts

CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, "DejaVu Sans", sans-serif; margin: 0 auto; max-width: 1040px; padding: 1.5rem;
       color: #1d232b; background: #fff; line-height: 1.4; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: .9rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e4e6ea; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f4f5f7; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { display: inline-block; min-width: 4.2rem; text-align: center; border-radius: 3px; padding: 0 .4rem;
           font-weight: 600; font-size: .85rem; }
.v-pass { background: #d6efdd; color: #1d5e33; } .v-fail { background: #f7d4d2; color: #8a1f17; }
.v-skip { background: #eceef1; color: #4a5260; }
.v-not-run { background: #fff; color: #6b7280; border: 1px dashed #aab; }
.v-error { background: #fbe6c8; color: #7a4a05; }
.big { font-size: 1.1rem; padding: .2rem .8rem; }
pre { background: #f6f7f9; border: 1px solid #e1e4e8; padding: .5rem; overflow-x: auto; font-size: .8rem;
      white-space: pre-wrap; word-break: break-word; }
.muted { color: #5b6470; } .reason { color: #4a5260; font-size: .85rem; }
details { margin: .4rem 0; } summary { cursor: pointer; }
svg { display: block; margin: .3rem 0 .8rem; }
svg text { font-size: 11px; fill: #1d232b; } svg text.node { fill: #fff; font-size: 10px; }
svg text.tick, svg text.legend { font-size: 10px; fill: #4a5260; }
.grid { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; font-size: .9rem; }
.grid dt { font-weight: 600; } .grid dd { margin: 0; }
.failure { border-left: 4px solid #d0473f; padding-left: .8rem; margin: 1rem 0; }
"""


def _e(value: object) -> str:
    return escape(str(value))


def _verdict(verdict: str, big: bool = False) -> str:
    return f'<span class="verdict v-{_e(verdict)}{" big" if big else ""}">{_e(verdict)}</span>'


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], css_id: str = "", num: Sequence[int] = ()) -> str:
    """Cells are HTML already (escape before); ``num`` holds the column numbers to right-align."""
    ident = f' id="{css_id}"' if css_id else ""
    heads = "".join(f"<th{' class=num' if i in num else ''}>{_e(h)}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i in num else ''}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table{ident}><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>"


def _seconds(value: object) -> str:
    return f"{float(value):.2f}s" if isinstance(value, int | float) else "–"


def _header(report: Mapping[str, Any]) -> str:
    run, env, summary = report["run"], report["environment"], report["summary"]
    counts = ", ".join(f"{summary[k]} {k}" for k in ("passed", "failed", "error", "skipped", "xfailed") if summary[k])
    return (
        f"<h1>StatefulSet conformance of StorageClass <code>{_e(run['storage_class'])}</code></h1>"
        f'<p class="muted">Report {_e(report["id"])} · profile {_e(run["profile"])} · '
        f"Kubernetes {_e(env['kubernetes']['git_version'] or 'unknown')} · "
        f"{_e(run['started'])} → {_e(run['finished'])} ({_e(run['seconds'])} s)</p>"
        f"<p>Overall: {_verdict(report['verdict'], big=True)} &nbsp; {summary['total']} promises checked: "
        f"{_e(counts or 'none')}</p>"
        + (
            "<ul>" + "".join(f"<li><strong>Problem:</strong> {_e(p)}</li>" for p in report["problems"]) + "</ul>"
            if report["problems"]
            else ""
        )
    )


def _verdicts(report: Mapping[str, Any]) -> str:
    rows = []
    for area in report["areas"]:
        c = area["counts"]
        reasons = "".join(f'<div class="reason">{_e(r)}</div>' for r in area["reasons"])
        rows.append(
            [
                f'<a href="#area-{_e(area["id"])}">{_e(area["title"])}</a>'
                f'<div class="reason">{_e(area["promise"])}</div>',
                _verdict(area["verdict"]),
                str(c["passed"] + c["xpassed"]),
                str(c["failed"] + c["error"]),
                str(c["skipped"] + c["xfailed"]),
                reasons,
            ]
        )
    table = _table(
        ["Promise area", "Verdict", "Pass", "Fail", "Skip", "Why skipped / not run"], rows, "verdicts", (2, 3, 4)
    )
    return "<h2 id=verdict>Verdict per promise area</h2>" + table


def _environment(report: Mapping[str, Any]) -> str:
    env, run, suite = report["environment"], report["run"], report["suite"]
    sc = env["storage_class"] or {}
    topology = env["volume_topology"]
    pinned_to = topology.get("pinned_to") or {True: "node", False: "none"}.get(topology["node_pinned"])
    pinned = {"node": "node-pinned", "zone": "zone-pinned", "none": "reachable from any node"}.get(
        str(pinned_to), "unknown"
    )
    domain = env.get("cluster_domain") or {}
    params = ", ".join(f"{k}={v}" for k, v in sorted((sc.get("parameters") or {}).items())) or "none"
    items: list[tuple[str, str]] = [
        ("Cluster", env["target"] or "unknown"),
        ("Kubernetes", f"{env['kubernetes']['git_version'] or 'unknown'}"),
        ("Nodes", f"{len(env['nodes'])} in zones {', '.join(env['zones']) or '–'}"),
        (
            "StorageClass",
            f"{sc.get('name', run['storage_class'])}" + (" (cluster default)" if sc.get("default") else ""),
        ),
        ("Provisioner", str(sc.get("provisioner", "unknown"))),
        ("Binding mode", str(sc.get("binding_mode", "unknown"))),
        ("Reclaim policy", str(sc.get("reclaim_policy", "unknown"))),
        ("Volume expansion", "allowed" if sc.get("allow_volume_expansion") else "not allowed"),
        ("Parameters", params),
        ("Allowed topologies", str(sc.get("allowed_topologies") or "any")),
        ("Volume topology", f"{pinned} ({topology['because']})"),
        ("Cluster domain", f"{domain.get('name') or 'unknown'} ({domain.get('found', 'not recorded')})"),
        ("Suite", f"ordinal {suite['version']} at {suite['git_revision']}"),
        ("Run", f"{run['started']} → {run['finished']}, {run['seconds']} s; profile {run['profile']}"),
    ]
    if run["pytest_args"]:
        items.append(("Selection", " ".join(run["pytest_args"])))
    if run["experiments"]:
        items.append(("Chaos experiments", ", ".join(run["experiments"])))
    for cap in env["capabilities"]:
        items.append(
            (
                cap["name"][:1].upper() + cap["name"][1:],
                ("yes" if cap["available"] else "no") + (f" ({cap['detail']})" if cap["detail"] else ""),
            )
        )
    items += _csi_items(env)
    gates = ", ".join(f"{k}={v}" for k, v in sorted(env["feature_gates"].items()))
    if gates:
        items.append(("Feature gates", gates))
    grid = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    nodes = _table(
        ["Node", "Zone", "Kind", "Ready", "Schedulable", "Kubelet"],
        (
            [
                _e(n["name"]),
                _e(n["zone"] or "–"),
                _e(n["kind"] or "–"),
                _e(n["ready"]),
                _e(n["schedulable"]),
                _e(n["kubelet"]),
            ]
            for n in env["nodes"]
        ),
        "nodes",
    )
    errors = "".join(f'<p class="reason">Could not read: {_e(e)}</p>' for e in env["errors"])
    return f'<h2 id=environment>Environment</h2><dl class="grid">{grid}</dl>{nodes}{errors}'


def _flag(value: object) -> str:
    return "unknown" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _csi_items(env: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The class's CSI driver: name, version and where it came from, its CSIDriver settings, topology keys."""
    csi = env.get("csi")
    if "csi" not in env:
        return []  # a report from before the field existed
    if not csi:
        attach = next((c for c in env["capabilities"] if c["name"].startswith("VolumeAttachments")), None)
        return [("CSI driver", "none" + (f" ({attach['detail']})" if attach and attach["detail"] else ""))]
    version = csi["version"] or "version unknown"
    nodes = csi["nodes"]
    keys = ", ".join(csi["topology_keys"]) or "none"
    items = [
        ("CSI driver", f"{csi['driver']} {version} ({csi['version_source']}); known as CSI by {csi['evidence']}"),
        (
            "CSIDriver",
            f"attachRequired {_flag(csi['attach_required'])}, podInfoOnMount {_flag(csi['pod_info_on_mount'])}, "
            f"fsGroupPolicy {_flag(csi['fs_group_policy'])}, storageCapacity {_flag(csi['storage_capacity'])}",
        ),
        ("Topology keys (CSINode)", f"{keys} on {len(nodes)} node{'s' if len(nodes) != 1 else ''}"),
        ("Attachment", csi["attaches"] or "unknown"),
    ]
    if csi["unreadable"]:
        items.append(("CSI objects not read", csi["unreadable"]))
    return items


def _stat_bars(rows: Iterable[tuple[str, Mapping[str, Any]]], high: str = "max") -> list[charts.Bar]:
    """Median bars with a min–``high`` whisker; the hover text has every statistic."""
    return [
        charts.Bar(
            label,
            float(s["p50"]),
            float(s["min"]) if s["n"] > 1 else None,
            float(s[high]) if s["n"] > 1 else None,
            f"{label}: median {s['p50']:.3f}s, p90 {s['p90']:.3f}s, min {s['min']:.3f}s, "
            f"max {s['max']:.3f}s, n={s['n']}",
            f"{s['p50']:.2f}s" + (f" ({high} {s[high]:.2f}s)" if s["n"] > 1 else ""),
        )
        for label, s in rows
    ]


def _figures(report: Mapping[str, Any]) -> str:
    figures = report["figures"]
    parts = ["<h2 id=figures>Figures</h2>"]
    if figures["time_to_ready"]:
        parts.append("<h3>Time to Ready per ordinal</h3>")
        parts.append(
            '<p class="muted">First Ready of each ordinal over every test, from the pod\'s creation and from '
            "its set's first pod (the OrderedReady chain): median bar, min–p90 whisker. Tests that hold pods "
            "unready on purpose sit in the tail.</p>"
        )
        ready: list[tuple[str, Mapping[str, Any]]] = []
        for r in figures["time_to_ready"]:
            ready.append((f"ordinal {r['ordinal']} from its creation (n={r['n']})", r))
            ready.append((f"ordinal {r['ordinal']} from the set's first pod", r["from_set"]))
        parts.append(charts.bar_chart(_stat_bars(ready, high="p90"), "Time to Ready per ordinal"))
    if figures["reattach"]:
        r = figures["reattach"]
        parts.append(f"<h3>Reattach latency (n={r['n']})</h3>")
        parts.append(
            '<p class="muted">Disrupted pod back Ready on its own claim: conformance and chaos samples together.</p>'
        )
        bars = [
            charts.Bar(q, float(r[key])) for q, key in (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("max", "max"))
        ]
        parts.append(charts.bar_chart(bars, "Reattach latency percentiles"))
    for group, title in (
        ("attach", "Volume attach (attachment created → attached)"),
        ("detach", "Volume detach (old pod gone → its attachment gone)"),
        ("dns", "DNS propagation (Ready → resolvable)"),
        ("rollout", "Rollout durations"),
        ("scale-up", "Scale-up"),
        ("node-loss", "Real node lost (from the fault, or from the out-of-service taint)"),
    ):
        stats = [s for s in figures["stats"] if s["group"] == group]
        if stats:
            parts.append(f"<h3>{_e(title)}</h3>")
            parts.append(charts.bar_chart(_stat_bars((f"{s['name']} (n={s['n']})", s) for s in stats), title))
    if figures["samples"] or figures["restoration"]:
        rows = [[_e(s["name"]), _e(s["test"]), _seconds(s["seconds"])] for s in figures["samples"]]
        rows += [
            [
                _e(f"chaos {r['experiment']}: {r.get('fault', '')} {r.get('pod', '')} to Ready"),
                _e(r["experiment"]),
                _seconds(r.get("to_ready")),
            ]
            for r in figures["restoration"]
        ]
        parts.append(
            "<details><summary>Every measured figure</summary>"
            + _table(["Figure", "Test", "Seconds"], rows, "samples", (2,))
            + "</details>"
        )
    if len(parts) == 1:
        parts.append('<p class="muted">No figures were measured in this run.</p>')
    return "".join(parts)


def _timeline_for(report: Mapping[str, Any], test: str) -> Mapping[str, Any] | None:
    return next((t for t in report["timelines"] if t["test"] == test), None)


def _failures(report: Mapping[str, Any]) -> str:
    if not report["failures"]:
        return "<h2 id=failures>Failures</h2><p>None: every promise that ran held.</p>"
    parts = ["<h2 id=failures>Failures</h2>"]
    for failure in report["failures"]:
        timeline = _timeline_for(report, failure["id"])
        chart = (
            charts.pod_timeline(timeline, f"Pod timeline of {failure['id']}") if timeline and timeline["pods"] else ""
        )
        parts.append(
            f'<div class="failure"><h3>{_verdict("fail")} {_e(failure["title"])}</h3>'
            f'<p class="muted">{_e(failure["id"])} · {_e(failure["area"])} · {_e(failure["outcome"])}</p>'
            f"<pre>{_e(failure['message'] or '(no message)')}</pre>{chart}"
            + (
                f"<details><summary>Timeline excerpt</summary><pre>{_e(failure['excerpt'])}</pre></details>"
                if failure["excerpt"]
                else ""
            )
            + "</div>"
        )
    return "".join(parts)


def _promises(report: Mapping[str, Any]) -> str:
    parts = ["<h2 id=promises>Promises</h2>"]
    for area in report["areas"]:
        parts.append(f'<h3 id="area-{_e(area["id"])}">{_e(area["title"])} {_verdict(area["verdict"])}</h3>')
        if not area["promises"]:
            parts.append(f'<p class="reason">{_e("; ".join(area["reasons"]))}</p>')
            continue
        rows = []
        for p in area["promises"]:
            detail = " / ".join(x for x in (p["feature"], p["story"]) if x)
            figures = ", ".join(f"{f['name']} {f['seconds']:.2f}s" for f in p["figures"])
            rows.append(
                [
                    _e(p["title"]) + f'<div class="reason">{_e(p["id"])}</div>',
                    _e(detail),
                    _verdict(p["verdict"]),
                    _e(p["reason"] or figures),
                    _seconds(p["duration"]),
                ]
            )
        parts.append(_table(["Promise", "Feature / story", "Verdict", "Reason / figures", "Time"], rows, num=(4,)))
    return "".join(parts)


_OUTCOME_VERDICT = {"passed": "pass", "xpassed": "pass", "skipped": "skip", "xfailed": "skip"}


def _timelines(report: Mapping[str, Any]) -> str:
    parts = [
        "<h2 id=timelines>Pod timelines</h2>",
        '<p class="muted">Each row is one pod object (name · UID): pending, running, ready and terminating spans, '
        "the node it ran on, a cross where it was gone; node rows show cordons and lost nodes.</p>",
    ]
    failed = {f["id"] for f in report["failures"]}
    for timeline in report["timelines"]:
        if not timeline["pods"]:
            continue
        chart = charts.pod_timeline(timeline, f"Pod timeline of {timeline['test']}")
        note = " (first pods only)" if timeline["truncated"] else ""
        opened = " open" if timeline["test"] in failed else ""
        parts.append(
            f"<details{opened}><summary>{_verdict(_OUTCOME_VERDICT.get(timeline['outcome'], 'fail'))} "
            f"{_e(timeline['title'])} <span class=muted>{_e(timeline['test'])}{note}</span></summary>{chart}</details>"
        )
    return "".join(parts)


def _experiments(report: Mapping[str, Any]) -> str:
    if not report["experiments"]:
        return ""
    rows = [
        [
            _e(x["name"]) + f'<div class="reason">{_e(x["title"])}</div>',
            _verdict(x["verdict"]),
            _e(x["status"] + (", deviated" if x["deviated"] else "")),
            _e(x["caught_by"] or "–"),
            _seconds(x["duration"]),
            f'<a href="{_e(x["journal"])}">journal</a>',
        ]
        for x in report["experiments"]
    ]
    return "<h2 id=chaos>Chaos experiments</h2>" + _table(
        ["Experiment", "Verdict", "Status", "Caught by", "Time", "Journal"], rows, "experiments", (4,)
    )


def _shape(report: Mapping[str, Any]) -> str:
    """The workload-shape audit: the sample's manifests, then what each experiment saw live before its fault."""
    shape = report.get("audit")
    if not shape:
        return ""
    parts = ["<h2 id=shape>Workload shape (ordinal audit)</h2>"]
    if shape["suite"] is not None:
        parts.append(audit.section_html(shape["suite"], heading="h3"))
    for taken in shape["experiments"]:
        parts.append(
            f"<h3>Before {_e(taken['experiment'])}: {_e(taken['statefulset'])} (audit={_e(taken['mode'])})</h3>"
        )
        rows = [
            [
                _e("not checked" if f["rule"] == "audit.not-checked" else f["severity"]),
                f"<code>{_e(f['rule'])}</code>",
                f"{_e(f['subject'])} <code>{_e(f['path'])}</code>",
                f"expected {_e(f['expected'])}, saw {_e(f['seen'])}" + f'<div class="reason">{_e(f["why"])}</div>',
            ]
            for f in taken["findings"]
        ]
        found = "No StatefulSet of that name was there." if not taken["found"] else "No findings."
        parts.append(
            _table(["Severity", "Rule", "Object, field", "Expected vs seen"], rows) if rows else f"<p>{found}</p>"
        )
    return "".join(parts)


def _files(report: Mapping[str, Any]) -> str:
    files = report["files"]
    listed = [
        ("report.json", "the same content, machine-readable (JSON Schema report-v1)"),
        (files["junit"], "JUnit XML"),
        (files["allure_results"], "allure results (allure serve)"),
    ]
    listed += [(j, "chaos journal") for j in files["journals"]]
    items = "".join(f'<li><a href="{_e(name)}">{_e(name)}</a> – {_e(what)}</li>' for name, what in listed)
    return (
        f"<h2 id=files>Files</h2><ul>{items}</ul>"
        f"<p>Check that nothing was edited: <code>sha256sum -c {_e(files['checksums'])}</code> in this directory, "
        f"or <code>ordinal report compare OLD NEW</code>, which verifies both reports first.</p>"
    )


def render(report: Mapping[str, Any]) -> str:
    title = f"ordinal report {report['id']}: {report['run']['storage_class']} {report['verdict']}"
    body = "".join(
        [
            _header(report),
            _verdicts(report),
            _environment(report),
            _figures(report),
            _failures(report),
            _experiments(report),
            _shape(report),
            _promises(report),
            _timelines(report),
            _files(report),
        ]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}{audit.SECTION_CSS}</style></head><body>{body}</body></html>\n"
    )
