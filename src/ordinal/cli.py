"""The ``ordinal`` command line. Errors end in one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ordinal.errors import InvalidScenario, OrdinalError


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad input in one line: what was expected, what was seen."""

    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split())
        self.exit(2, f"{self.prog}: {message} (expected {usage.removeprefix('usage: ')})\n")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cluster_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    cluster = sub.add_parser("cluster", help="build and run the local cluster")
    csub = cluster.add_subparsers(dest="action", required=True, parser_class=_Parser)
    up = csub.add_parser("up", help="start the local cluster (builds what is missing)")
    up.add_argument("--nodes", type=int, default=None, help="nodes in all, real ones included (default 5)")
    up.add_argument(
        "--real-nodes",
        type=int,
        default=None,
        help="how many of the nodes are real (kubelet + containerd, run containers); default 3 (at most "
        "--nodes), or ORDINAL_REAL_NODES; 0: all simulated",
    )
    up.add_argument("--zones", type=int, default=3, help="zones the nodes are spread over (default 3)")
    up.add_argument(
        "--cluster-domain",
        default="cluster.local",
        metavar="DOMAIN",
        help="the cluster's DNS domain: CoreDNS zone, kubelets' clusterDomain, token issuer (default cluster.local)",
    )
    up.add_argument(
        "--kubernetes",
        default=None,
        metavar="VERSION",
        help="the Kubernetes release to start: the pinned default, or an older one of cluster/versions.json (v1.33)",
    )
    up.add_argument(
        "--pod-security",
        default="",
        metavar="LEVEL",
        help="enforce this Pod Security level (privileged, baseline, restricted) in every namespace by default",
    )
    up.add_argument(
        "--feature-gates",
        default="",
        metavar="A=true,B=false",
        help="feature gates (alpha ones too) for the apiserver, controller-manager, scheduler and kubelets",
    )
    up.add_argument(
        "--port-offset",
        type=int,
        default=int(os.environ.get("ORDINAL_PORT_OFFSET", "0") or 0),
        help="shift every port, to run a second cluster (own ORDINAL_CLUSTER_DIR); env ORDINAL_PORT_OFFSET",
    )
    build_cmd = csub.add_parser("build", help="compile and cache the cluster's binaries")
    build_cmd.add_argument(
        "--kubernetes", default=None, metavar="VERSION", help="the release to build (default: pinned)"
    )
    csub.add_parser("down", help="stop every process `up` started and remove the state")
    csub.add_parser("status", help="show what runs")
    env = csub.add_parser("env", help="print shell exports: KUBECONFIG, ORDINAL_DNS and ORDINAL_IMAGE")
    env.add_argument(
        "--as",
        dest="identity",
        default="admin",
        metavar="admin|ci",
        help="ci: a ServiceAccount bound to exactly `ordinal rbac --disruptive`, as a least-privilege CI would be",
    )
    node = csub.add_parser(
        "node",
        help="stop a real node (its kubelet, containerd, containers and CSI node plugin stop answering, as a hung "
        "machine's would) or start it again",
    )
    node.add_argument("power", choices=("stop", "start"), metavar="stop|start")
    node.add_argument("name", metavar="NAME", help="a real node of the local cluster, e.g. ordinal-node-2")
    logs = csub.add_parser("logs", help="print a component's log")
    logs.add_argument("component")
    gen = csub.add_parser("gen", help="regenerate the Go modules' pins from cluster/versions.json")
    gen.add_argument("--check", action="store_true", help="fail if the committed go.mod files differ")
    for leaf in csub.choices.values():
        leaf.set_defaults(leaf=leaf)


def _run_cluster(args: argparse.Namespace) -> int:
    from ordinal.localcluster import build, cluster, gomod
    from ordinal.localcluster.context import parse_feature_gates

    if args.action == "up":
        gates = parse_feature_gates(args.feature_gates)
        nodes = cluster.DEFAULT_NODES if args.nodes is None else args.nodes
        real_nodes = cluster.default_real_nodes(nodes=nodes) if args.real_nodes is None else args.real_nodes
        data = cluster.up(
            nodes=nodes,
            zones=args.zones,
            port_offset=args.port_offset,
            real_nodes=real_nodes,
            cluster_domain=args.cluster_domain,
            pod_security=args.pod_security,
            kubernetes=args.kubernetes,
            feature_gates=gates,
            log=_say,
        )
        print(f"local cluster up in {data['seconds']}s; kubeconfig: {data['kubeconfig']}")
        print(f'DNS: {data["dns"]}   (eval "$(ordinal cluster env)" to use it)')
        stack = data.get("csi") or {}
        if stack.get("driver"):
            nodes_with = ", ".join(stack["nodes"])
            print(f"CSI: StorageClass {stack['storage_class']} (driver {stack['driver']}) on {nodes_with}")
        else:
            print(f"CSI: none ({stack.get('why', 'not started')})")
    elif args.action == "build":
        for built in build.build(log=_say, kubernetes=args.kubernetes).values():
            note = "cached" if built.cached else f"built in {built.seconds:.0f}s"
            print(f"{built.name}: {built.dir} ({note})")
    elif args.action == "down":
        if cluster.down(log=_say):
            print("local cluster stopped")
        else:
            print("no local cluster running; nothing to stop")
    elif args.action == "status":
        info = cluster.status()
        print(json.dumps(info, indent=2))
        return 0 if info["running"] else 3
    elif args.action == "env":
        print("\n".join(cluster.env_lines(identity=args.identity)))
    elif args.action == "node":
        print(cluster.node_power(args.power, args.name))
    elif args.action == "logs":
        sys.stdout.write(cluster.log_path(args.component).read_text(errors="replace"))
    elif args.action == "gen":
        changed = gomod.generate(check=args.check, log=_say)
        if args.check and changed:
            raise OrdinalError(
                "expected the Go modules to match cluster/versions.json, "
                f"found differences in {', '.join(changed)} "
                "(run `ordinal cluster gen`)"
            )
    return 0


def _experiments_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    experiments = sub.add_parser("experiments", help="the chaos experiments ordinal carries: list, path, gen")
    esub = experiments.add_subparsers(dest="action", required=True, parser_class=_Parser)
    esub.add_parser("list", help="name and title of every experiment")
    path = esub.add_parser(
        "path", help='the file of one experiment, for `chaos run "$(ordinal experiments path NAME)"`'
    )
    path.add_argument("name", metavar="NAME")
    gen = esub.add_parser("gen", help="rewrite the parts every experiment shares from experiments/_shared/common.json")
    gen.add_argument("--check", action="store_true", help="fail if a committed experiment differs")
    for leaf in esub.choices.values():
        leaf.set_defaults(leaf=leaf)


def _run_experiments(args: argparse.Namespace) -> int:
    from ordinal import experiments

    if args.action == "list":
        for file in sorted(experiments.EXPERIMENTS.glob("*.json")):
            title = json.loads(file.read_text()).get("title", "")
            print(f"{file.stem:<26} {title}")
    elif args.action == "path":
        print(experiments.experiment_path(args.name, experiments.EXPERIMENTS).resolve())
    elif args.action == "gen":
        changed = experiments.generate(experiments.EXPERIMENTS, check=args.check, log=_say)
        if args.check and changed:
            raise OrdinalError(
                f"expected the experiments to match experiments/{experiments.SHARED.as_posix()}, "
                f"found differences in {', '.join(changed)} "
                "(run `ordinal experiments gen`)"
            )
    return 0


def _suite_parsers(sub: argparse._SubParsersAction[_Parser]) -> None:
    run = sub.add_parser(
        "run",
        help="the main job: chaos experiments, then the conformance suite, against KUBECONFIG or the local cluster",
    )
    run.add_argument(
        "--experiment",
        action="append",
        default=[],
        metavar="NAME",
        help="chaos experiment experiments/NAME.json to run before the suite (repeatable; default: drain)",
    )
    run.add_argument("--no-experiments", action="store_true", help="run the conformance suite only")
    _workers_option(run)
    run.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="passed on to pytest after `--`")
    run.set_defaults(leaf=run)
    cleanup = sub.add_parser(
        "cleanup",
        help="remove what aborted runs left: namespaces, their volumes, cordons, taints; start nodes a run stopped "
        "(with ORDINAL_NODE_START_COMMAND)",
    )
    cleanup.add_argument("--run-id", default=None, help="only this run's leftovers (default: every ordinal run)")
    cleanup.add_argument(
        "--kubeconfig", default=None, help="cluster to clean (default: KUBECONFIG or the local cluster)"
    )
    cleanup.add_argument("--context", default=None, help="context in the kubeconfig")
    cleanup.set_defaults(leaf=cleanup)


def _workers_option(parser: _Parser) -> None:
    parser.add_argument(
        "--workers",
        default=os.environ.get("ORDINAL_WORKERS") or "auto",
        metavar="N|auto",
        help="pytest-xdist workers for the suite: auto (default: 2 per schedulable node, at most 8), "
        "0 for one process; env ORDINAL_WORKERS. Tests that drain or lose nodes never overlap.",
    )


def _run_cleanup(args: argparse.Namespace) -> int:
    from ordinal.act.namespaces import sweep
    from ordinal.act.nodes import NodeCommands
    from ordinal.kube.manifests import run_labels
    from ordinal.kube.rest import ApiError
    from ordinal.target import connect, resolve

    if args.run_id is not None:
        run_labels(args.run_id)  # a bad id fails here, before the cluster is asked
    commands = NodeCommands.from_env()  # a node a run stopped is started again with ORDINAL_NODE_START_COMMAND
    target = resolve(args.kubeconfig, args.context)
    with connect(target) as kube:
        try:
            removed, errors = sweep(kube, args.run_id, commands=commands)
        except ApiError as err:
            raise OrdinalError(f"expected to list ordinal's namespaces on {target.source}, got {err}") from err
    for item in removed:
        print(f"removed {item}")
    for error in errors:
        _say(f"ordinal cleanup: {error.splitlines()[0]}")
    if not removed and not errors:
        print("nothing to clean up" + (f" for run {args.run_id}" if args.run_id else ""))
    return 1 if errors else 0


def _run_suite(args: argparse.Namespace) -> int:
    """Resolve the target (starting the local cluster if there is none), run experiments, then the suite."""
    from ordinal import runs

    if args.no_experiments and args.experiment:
        raise InvalidScenario(f"expected --experiment or --no-experiments, got both ({', '.join(args.experiment)})")
    experiments = [] if args.no_experiments else args.experiment or list(runs.DEFAULT_EXPERIMENTS)
    workers = runs.parse_workers(args.workers)
    return runs.run(experiments=experiments, pytest_args=args.pytest_args, workers=workers, log=_say)


_REPORT_USAGE = (
    "ordinal report --storage-class NAME [--profile quick|full] [--experiments A,B] [--out DIR]\n"
    "                      [--workers N|auto] [-- PYTEST_ARGS]\n"
    "       ordinal report compare OLD NEW [--strict-figures]"
)

_REPORT_EPILOG = """\
Writes into --out (default reports/<run-id>): index.html (self-contained: no network), report.json
(JSON Schema report-v1, validated on write), junit.xml, allure-results/, chaos/ (journals, with
--profile full) and SHA256SUMS over every other file (check with `sha256sum -c SHA256SUMS`).
Profiles: quick = the conformance suite; full = the suite, then the chaos experiments (all, or
--experiments a,b), each run with --var storage_class=NAME. Arguments after `--` go to pytest
(e.g. -- -k "test_storage or test_retention"). The cluster is KUBECONFIG/ORDINAL_KUBECONFIG or the
running local cluster. Exit 0 when every promise that ran held, 1 when one failed or the run had
problems (leaks, interrupted), 2 on bad input (nothing is created then).

compare OLD NEW (report directories or their report.json): verifies both SHA256SUMS and schemas
(exit 2 if either was edited or is invalid), then prints the promises whose verdict changed and
the figures that moved beyond noise. Noise: a figure (a median, or the reattach p50/p90) has
moved only when it changed by {noise}; smaller moves are jitter.
Exit 1 on a regression (a promise failing now that did not fail before; slower figures only
with --strict-figures), 0 otherwise.
"""


def _report_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    from ordinal.report.compare import NOISE_TEXT

    report = sub.add_parser(
        "report",
        help="a conformance report for a StorageClass (HTML, JSON, JUnit, checksums), or compare two",
        usage=_REPORT_USAGE,
        epilog=_REPORT_EPILOG.format(noise=NOISE_TEXT),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("--storage-class", default=None, metavar="NAME", help="the StorageClass to report on")
    report.add_argument("--profile", default="quick", metavar="quick|full", help="quick (default) or full (+ chaos)")
    report.add_argument("--experiments", default=None, metavar="A,B", help="with --profile full: only these")
    report.add_argument("--out", default=None, metavar="DIR", help="new or empty directory (default reports/<run-id>)")
    _workers_option(report)
    report.add_argument(
        "--strict-figures", action="store_true", help="compare: also exit 1 when a figure got slower beyond noise"
    )
    report.add_argument(
        "words", nargs="*", metavar="compare OLD NEW | -- PYTEST_ARGS", help="two reports to compare, or pytest args"
    )
    report.set_defaults(leaf=report)


def _run_report(args: argparse.Namespace) -> int:
    """Bad input and untrustworthy reports exit 2 with one line; promise failures and regressions exit 1."""
    from pathlib import Path

    from ordinal import runs
    from ordinal.errors import InvalidScenario
    from ordinal.report import compare, run, schema, sums

    words = list(args.words)
    try:
        if words[:1] == ["compare"]:
            given = [
                flag
                for flag, value in (
                    ("--storage-class", args.storage_class),
                    ("--out", args.out),
                    ("--experiments", args.experiments),
                    ("--profile", args.profile != "quick" or None),
                )
                if value
            ]
            if given:
                raise InvalidScenario(f"expected no run options with compare, found {', '.join(given)}")
            if len(words) != 3:
                paths = f"{len(words) - 1} path{'s' if len(words) != 2 else ''}"
                raise InvalidScenario(f"expected `ordinal report compare OLD NEW`, found {paths}")
            result = compare.compare(compare.load(Path(words[1])), compare.load(Path(words[2])))
            for line in compare.lines(result, args.strict_figures):
                print(line)
            return result.exit_code(args.strict_figures)
        if not args.storage_class:
            raise InvalidScenario("expected --storage-class NAME (the class to report on), found none")
        request = run.Request(
            storage_class=args.storage_class,
            profile=args.profile,
            experiments=run.experiment_names(args.experiments),
            out=Path(args.out) if args.out else None,
            pytest_args=tuple(words),
            workers=runs.parse_workers(args.workers),
        )
        return run.run(request, log=_say)
    except (InvalidScenario, sums.Tampered, schema.ReportInvalid) as err:
        _say(f"ordinal report: {str(err).splitlines()[0]}")
        return 2


def _rbac_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    rbac = sub.add_parser("rbac", help="print the least-privilege RBAC (YAML) the suite and experiments need")
    rbac.add_argument("--disruptive", action="store_true", help="also what drains, cordons and node loss need")
    rbac.add_argument("--namespace-prefix", default="ord", metavar="P", help="prefix of the suite's namespaces")
    rbac.add_argument(
        "--service-account",
        default="ordinal/ordinal-ci",
        metavar="NS/NAME",
        help="the identity to bind (default ordinal/ordinal-ci)",
    )
    rbac.set_defaults(leaf=rbac)


def _run_rbac(args: argparse.Namespace) -> int:
    import yaml

    from ordinal.kube import permissions

    namespace, sep, name = str(args.service_account).partition("/")
    if not sep or not namespace or not name:
        raise InvalidScenario(f"expected --service-account NAMESPACE/NAME, got {args.service_account!r}")
    subject = {"kind": "ServiceAccount", "name": name, "namespace": namespace}
    objects = permissions.manifests(subject=subject, disruptive=args.disruptive)
    print(permissions.header(args.namespace_prefix, disruptive=args.disruptive), end="")
    print(yaml.safe_dump_all(objects, sort_keys=False), end="")
    return 0


_AUDIT_EPILOG = """\
Reads StatefulSets, Services, EndpointSlices, Pods, PVCs, PVs, StorageClasses, PodDisruptionBudgets
and Nodes once, and judges each set's shape: a headless Service that selects the pods and publishes
their hostnames; per-pod ReadWriteOnce claims; a budget that covers only this set and allows a
disruption; a readiness probe; spreading over nodes (and zones for zonal volumes); what deleting or
scaling down does to the data; claims no pod mounts. A list the identity may not make is reported as
"not checked" with the permission it needs. Exit 0 with no finding at or above --fail-on (default
error), 1 otherwise, 2 on bad input.
"""


def _audit_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    audit = sub.add_parser(
        "audit",
        help="is each StatefulSet shaped to keep its promises (Service, budget, claims, probes, spread)?",
        epilog=_AUDIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument("names", nargs="*", metavar="NAME", help="StatefulSets to audit (default: all)")
    audit.add_argument("-n", "--namespace", default=None, help="the namespace (default: default)")
    audit.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace of the cluster")
    audit.add_argument(
        "--fail-on", default="error", choices=("info", "warning", "error"), help="lowest severity that exits 1"
    )
    audit.add_argument("-o", "--output", default="text", choices=("text", "json"), help="text (default) or json")
    audit.add_argument("--report", default=None, metavar="DIR", help="also write DIR/index.html and DIR/findings.json")
    audit.add_argument("--kubeconfig", default=None, help="cluster to audit (default: KUBECONFIG or the local cluster)")
    audit.add_argument("--context", default=None, help="context in the kubeconfig")
    audit.set_defaults(leaf=audit)


def _run_audit(args: argparse.Namespace) -> int:
    """Findings on stdout; 0/1 by --fail-on; bad input exits 2 in one line and writes nothing."""
    from pathlib import Path

    from ordinal.report import audit
    from ordinal.target import connect, resolve

    try:
        if args.all_namespaces and args.namespace:
            raise InvalidScenario(f"expected -n NAMESPACE or -A, got both (-n {args.namespace} -A)")
        level = audit.fail_on(args.fail_on)
        out = audit.check_report_dir(Path(args.report)) if args.report else None
        namespace = None if args.all_namespaces else (args.namespace or "default")
        target = resolve(args.kubeconfig, args.context)
        with connect(target) as kube:
            inventory, audits = audit.read(kube, namespace, args.names)
    except InvalidScenario as err:
        _say(f"ordinal audit: {str(err).splitlines()[0]}")
        return 2
    doc = audit.document(
        audits, namespace=namespace, target=target.source, level=level, unreadable=inventory.unreadable
    )
    if args.output == "json":
        print(json.dumps(doc, indent=1))
    else:
        print("\n".join(audit.text(doc, audits)))
    if out is not None:
        for path in audit.write(out, doc):
            _say(f"ordinal audit: wrote {path}")
    return int(doc["exit_code"])


def build_parser() -> _Parser:
    parser = _Parser(prog="ordinal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _cluster_parser(sub)
    _experiments_parser(sub)
    _suite_parsers(sub)
    _rbac_parser(sub)
    _report_parser(sub)
    _audit_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `ordinal cluster status | head`: the reader left; say nothing more, as shell tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _main(argv: Sequence[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if extra:  # report against the subcommand that was meant, with its own usage
        args.leaf.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "cluster":
            return _run_cluster(args)
        if args.command == "experiments":
            return _run_experiments(args)
        if args.command == "cleanup":
            return _run_cleanup(args)
        if args.command == "run":
            return _run_suite(args)
        if args.command == "rbac":
            return _run_rbac(args)
        if args.command == "report":
            return _run_report(args)
        if args.command == "audit":
            return _run_audit(args)
    except OrdinalError as err:
        _say(f"ordinal: {str(err).splitlines()[0]}")
        return 1
    except KeyboardInterrupt:
        _say("ordinal: interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
