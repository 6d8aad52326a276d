"""Per-run state of a pytest session: the lazily built client, capabilities, namespaces, figures.

Everything per-session lives on one :class:`SuiteSession` in ``config.stash``; nothing is kept
in module globals. The cluster is resolved the first time a test asks for a cluster fixture.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ordinal import capabilities
from ordinal.act.namespaces import create_namespace, leaks, new_run_id, remove_namespace, sweep
from ordinal.act.nodes import NodeCommands, ledger_nodes, restore_node
from ordinal.act.workload import Timeouts
from ordinal.artefacts.figures import Figure, FigureLog
from ordinal.artefacts.results import ResultLog
from ordinal.capabilities import ClusterInfo, DnsAccess
from ordinal.errors import CapabilityMissing, OrdinalError
from ordinal.kube.manifests import run_labels, statefulset_manifest
from ordinal.kube.permissions import Call
from ordinal.kube.rest import PODS, ApiError, Kube
from ordinal.observe.dnsquery import Resolver
from ordinal.observe.recorder import Recorder
from ordinal.pytest_plugin.settings import Settings
from ordinal.pytest_plugin.workers import USED_CLUSTER, NodeLocks, WorkerOutput, from_controller, worker_id
from ordinal.target import Target, connect, local_node_image, resolve


class SuiteSession:
    """Per-run state: the lazily built client, capabilities, namespaces to clean and figures."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        run_id, lock_dir = from_controller(config)
        #: One run id for every xdist worker: the controller's.
        self.run_id = run_id or new_run_id()
        #: ``gw0``… in an xdist worker, else None (the controller, or a run without workers).
        self.worker = worker_id(config)
        #: Node locks shared with the other workers of this run; None without workers.
        self.locks = NodeLocks(lock_dir) if lock_dir else None
        #: The controller's own lock directory (removed at its end) and what its workers handed back.
        self.lock_dir: Path | None = None
        self.worker_outputs: list[WorkerOutput] = []
        self._controller_calls: Counter[Call] = Counter()
        self._lock = threading.RLock()
        self._target: Target | None = None
        self._kube: Kube | None = None
        self._info: ClusterInfo | None = None
        self._probe_namespace: str | None = None
        self._resolver: Resolver | None = None
        self._probe_pod: tuple[str, str] | None = None
        self._probe_selector: dict[str, str] = {}
        self._image: str | None = None
        self.live_namespaces: dict[str, str] = {}
        self.kept_namespaces: dict[str, str] = {}
        self.figures = FigureLog(figures_path(config))
        #: Figures as the test reports carried them (a controller's own FigureLog stays empty).
        self.reported_figures: list[Figure] = []
        self.requests: dict[str, int] = {}
        self.recorder_requests: dict[str, int] = {}
        self._recorder_kube: Kube | None = None
        self.durations: dict[str, float] = {}
        self.cleanup_errors: list[str] = []
        self.leaks: list[str] = []
        self._reaper: ThreadPoolExecutor | None = None
        self._reaping: dict[str, Future[list[str]]] = {}
        self._reaper_kube: Kube | None = None
        self.cleanup_requests = 0

    @property
    def node_commands(self) -> NodeCommands:
        """How to stop and start a real node (``--node-stop-command``/``--node-start-command``); "" if not given."""
        return NodeCommands(self.settings.node_stop_command or "", self.settings.node_start_command or "")

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts(self.settings.timeout_scale, self.settings.replicas)

    @property
    def kube_or_none(self) -> Kube | None:
        return self._kube

    @property
    def recorder_kube_or_none(self) -> Kube | None:
        return self._recorder_kube

    @property
    def info_or_none(self) -> ClusterInfo | None:
        return self._info

    def target(self) -> Target:
        with self._lock:
            if self._target is None:
                self._target = resolve(self.settings.kubeconfig, self.settings.context)
            return self._target

    def kube(self) -> Kube:
        with self._lock:
            if self._kube is None:
                self._kube = connect(self.target())
                if self.locks is not None:  # the controller sweeps the run even if this worker never reports back
                    (self.locks.directory / USED_CLUSTER).touch()
            return self._kube

    def recorder_kube(self) -> Kube:
        """A client for the timeline recorders alone, so their lists and watches are counted apart."""
        with self._lock:
            if self._recorder_kube is None:
                self._recorder_kube = connect(self.target())
            return self._recorder_kube

    def image(self) -> str:
        """``--image``, or on the local cluster with real nodes (which pull nothing) the image they hold.

        Decided once per run: every workload fixture asks.
        """
        with self._lock:
            if self._image is None:
                self._image = self.settings.image
                if self.settings.sources.get("image", "default") == "default":
                    try:
                        local = self.target().local
                    except OrdinalError:
                        local = False
                    if local:
                        self._image = local_node_image() or self.settings.image
            return self._image

    def disruptive_allowed(self) -> bool:
        if self.settings.allow_disruptive is not None:
            return self.settings.allow_disruptive
        try:
            return self.target().local
        except OrdinalError:
            return False

    def probe_namespace(self) -> str:
        """A namespace of this run for discovery probes (dry runs, the probe pod); removed at the end."""
        with self._lock:
            if self._probe_namespace is None:
                ns = create_namespace(
                    self.kube(), self.run_id, f"{self.settings.namespace_prefix}-probe", timeout=self.timeouts.pod
                )
                self._probe_namespace = ns
                self.live_namespaces[ns] = "capability probes"
            return self._probe_namespace

    def info(self) -> ClusterInfo:
        with self._lock:
            if self._info is None:
                if self.locks is None:
                    self._info = self._discover()
                else:  # counts schedulable nodes and zones: never while another worker cordons one
                    with self.locks.hold("all-nodes"):
                        self._info = self._discover()
            return self._info

    def _discover(self) -> ClusterInfo:
        kube, target = self.kube(), self.target()
        self._check_admission()
        probes = capabilities.Probes(
            dry_run=lambda manifest: capabilities.dry_run_in(kube, self.probe_namespace())(manifest),
            exec_probe=lambda: self._exec_probe(),
        )
        info = capabilities.discover(
            kube,
            target,
            probes=probes,
            storage_class=self.settings.storage_class,
            dns=DnsAccess("none", why_not="not probed"),
        )
        self._probe_selector = dict(info.exec_node_selector)
        dns, self._resolver = self._dns_access(info)
        domain, source = self._cluster_domain(info)
        commands = self.node_commands
        return replace(
            info,
            dns=dns,
            cluster_domain=domain,
            domain_source=source,
            node_stop=commands.configured,
            node_stop_why_not=commands.missing(),
        )

    def _check_admission(self) -> None:
        """A dry run of exactly the pod the suite creates: a refusing admission policy ends the run in one line."""
        sts = statefulset_manifest(
            "web",
            self.probe_namespace(),
            image=self.image(),
            labels=run_labels(self.run_id),
            run_as_user=self.settings.run_as_user,
            claim_template=None,
        )
        refusal = capabilities.admission_refusal(self.kube(), capabilities.pod_of_template(sts, "web-0"))
        if refusal:
            pytest.exit(f"ordinal: expected the cluster to admit the suite's pods, but it refused them: {refusal}", 4)

    def probe_pod(self) -> tuple[str, str]:
        """The session's probe pod (namespace, name), started on first use and kept until the session ends."""
        with self._lock:
            if self._probe_pod is None:
                manifest = capabilities.probe_pod_manifest(
                    self.probe_namespace(),
                    self.image(),
                    run_labels(self.run_id),
                    run_as_user=self.settings.run_as_user,
                    node_selector=self._probe_selector,
                )
                name = capabilities.start_probe_pod(self.kube(), manifest, timeout=self.timeouts.pod)
                self._probe_pod = (self.probe_namespace(), name)
            return self._probe_pod

    def _exec_probe(self) -> str:
        try:
            namespace, pod = self.probe_pod()
        except (OrdinalError, ApiError) as err:
            return str(err).splitlines()[0]
        return capabilities.exec_probe(self.kube(), namespace, pod, timeout=self.timeouts.pod)

    def _dns_access(self, info: ClusterInfo) -> tuple[DnsAccess, Resolver | None]:
        """Pick the resolver per --dns (the same choice the experiments make, see capabilities.dns_access)."""
        mode, server = capabilities.parse_dns_mode(self.settings.dns)
        return capabilities.dns_access(
            self.kube(),
            mode,
            server,
            local=info.local,
            exec_pod=self.probe_pod if info.exec_pods else None,
            exec_why_not=info.exec_why_not,
        )

    def _cluster_domain(self, info: ClusterInfo) -> tuple[str, str]:
        if self.settings.cluster_domain:
            return self.settings.cluster_domain, f"--cluster-domain ({self.settings.sources['cluster_domain']})"
        runs_pods = set(info.simulated_nodes) != set(info.schedulable_nodes)
        return capabilities.discover_cluster_domain(
            self.kube(), resolver=self._resolver, resolv_conf=self._probe_log if runs_pods else None
        )

    def _probe_log(self) -> str:
        namespace, pod = self.probe_pod()
        return self.kube().raw_get(PODS.path(namespace, pod, "log"), timeout=self.timeouts.pod)

    def resolver(self) -> Resolver:
        info = self.info()
        if self._resolver is None:
            raise CapabilityMissing(capabilities.CAPABILITIES["dns"], info.dns.why_not)
        return self._resolver

    def create_namespace(self, nodeid: str) -> str:
        ns = create_namespace(self.kube(), self.run_id, self.settings.namespace_prefix, timeout=self.timeouts.pod)
        self.live_namespaces[ns] = nodeid
        return ns

    def delete_namespace(self, ns: str, kube: Kube | None = None) -> list[str]:
        """Emptied first (:func:`~ordinal.act.namespaces.remove_namespace`): the namespace controller waits
        15 s before it looks again at claims with finalizers, and the run's last namespaces are its tail."""
        errors = remove_namespace(kube or self.kube(), ns, timeout=self.timeouts.gone)
        if not errors:
            self.live_namespaces.pop(ns, None)
        return errors

    def reap(self, ns: str) -> None:
        """Delete a test's namespace in the background; its errors are collected at session end.

        Namespace deletion takes the namespace controller 5-10 s even for an empty namespace;
        waiting for it after every test would double the suite's time. Each namespace still
        goes through :meth:`delete_namespace` (pods and claims gone, namespace gone, then its PVs).
        """
        with self._lock:
            if self._reaper is None:
                self._reaper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ordinal-reaper")
                # A client of its own, so cleanup requests do not count against the next test.
                self._reaper_kube = connect(self.target())
            self._reaping[ns] = self._reaper.submit(self.delete_namespace, ns, self._reaper_kube)

    def _join_reaper(self) -> None:
        for ns, future in list(self._reaping.items()):
            try:
                self.cleanup_errors += future.result()
            except Exception as err:  # a bug in cleanup must be reported, not lose the others
                self.cleanup_errors.append(f"namespace/{ns}: {err}")
        self._reaping.clear()
        if self._reaper is not None:
            self._reaper.shutdown()
        if self._reaper_kube is not None:
            self.cleanup_requests = sum(self._reaper_kube.requests.values())
            self._reaper_kube.close()

    def api_calls(self) -> Counter[Call]:
        """Every request of the run (tests, recorders, cleanup) as RBAC sees it."""
        total: Counter[Call] = Counter()
        for kube in (self._kube, self._recorder_kube, self._reaper_kube):
            if kube is not None:
                total.update(kube.calls)
        return total

    def finish(self) -> None:
        """Remove what is left (after an interrupt), undo node changes, then look for leaks.

        A worker removes only its own namespaces: the node ledger and the leak check span the
        whole run, which only the controller sees end (:meth:`finish_run`).
        """
        kube = self._kube
        if kube is None:
            return
        close = getattr(self._resolver, "close", None)
        if callable(close):
            close()
        # What is still live (the probe pod's namespace, an interrupted test's) goes beside the reaped ones.
        for ns in list(self.live_namespaces):
            if ns not in self._reaping:
                self.reap(ns)
        self._join_reaper()
        if self.worker is not None:
            kube.close()
            if self._recorder_kube is not None:
                self._recorder_kube.close()
            return
        try:
            for node in ledger_nodes(kube, self.run_id):
                restore_node(kube, node, self.node_commands)
            found = leaks(kube, self.run_id)
        except (OrdinalError, ApiError) as err:
            self.cleanup_errors.append(f"leak check: {err}")
            found = []
        kept = {f"namespace/{ns}" for ns in self.kept_namespaces}
        self.leaks = [leak for leak in found if leak not in kept]
        kube.close()
        if self._recorder_kube is not None:
            self._recorder_kube.close()

    def worker_output(self) -> WorkerOutput:
        """What this worker hands the controller (see :mod:`.workers`)."""
        return WorkerOutput(
            used_cluster=self._kube is not None,
            kept_namespaces=dict(self.kept_namespaces),
            cleanup_errors=list(self.cleanup_errors),
            cleanup_requests=self.cleanup_requests,
            summary=self._info.summary() if self._info is not None else [],
            api_calls=[vars(c) for c in sorted(set(self.api_calls()))],
        )

    def take(self, output: WorkerOutput) -> None:
        """Merge one finished worker's output into the controller's view of the run."""
        self.worker_outputs.append(output)
        self.kept_namespaces.update(output.kept_namespaces)
        self.cleanup_errors += output.cleanup_errors
        self.cleanup_requests += output.cleanup_requests

    def api_calls_of_run(self) -> Counter[Call]:
        total = self.api_calls() + self._controller_calls
        for output in self.worker_outputs:
            total.update(output.calls())
        return total

    def summary(self) -> list[str]:
        """The capability summary: this session's, or (in the controller) the first worker's."""
        if self._info is not None:
            return self._info.summary()
        return next((o.summary for o in self.worker_outputs if o.summary), [])

    def finish_run(self) -> None:
        """Controller, every worker down: sweep what interrupted workers left, undo node changes, look for leaks."""
        used = self.lock_dir is not None and (self.lock_dir / USED_CLUSTER).exists()
        if not used and not any(o.used_cluster for o in self.worker_outputs):
            return
        try:
            with connect(self.target()) as kube:
                kept = set(self.kept_namespaces)
                _, errors = sweep(kube, self.run_id, keep=kept, timeout=self.timeouts.gone, commands=self.node_commands)
                self.cleanup_errors += errors
                found = leaks(kube, self.run_id)
                self._controller_calls = Counter(kube.calls)
        except (OrdinalError, ApiError) as err:
            self.cleanup_errors.append(f"leak check: {err}")
            return
        self.leaks = [leak for leak in found if leak not in {f"namespace/{ns}" for ns in kept}]


SESSION_KEY = pytest.StashKey[SuiteSession]()
RECORDER_KEY = pytest.StashKey[Recorder]()
NAMESPACE_KEY = pytest.StashKey[str]()
REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
FIGURES_KEY = pytest.StashKey[list[Figure]]()
REPORT_DIR_KEY = pytest.StashKey[Path]()
START_KEY = pytest.StashKey[tuple[int, int, float]]()
ERRORS_KEY = pytest.StashKey[dict[str, BaseException]]()
RESULTS_KEY = pytest.StashKey[ResultLog | None]()
_SIGNAL_KEY = pytest.StashKey[Any]()


def session_of(config: pytest.Config) -> SuiteSession:
    return config.stash[SESSION_KEY]


def use_report_dir(config: pytest.Config, path: str | Path) -> None:
    """Default ``--junitxml`` / ``--alluredir`` into ``path`` when the user gave none.

    Called from the suite's ``conformance/conftest.py`` (at configure time, before the
    junitxml and allure plugins read their options), so only conformance runs write reports;
    ordinal's own test runs are left alone.
    """
    reports = Path(path) if Path(path).is_absolute() else config.rootpath / path
    config.stash[REPORT_DIR_KEY] = reports
    if getattr(config.option, "xmlpath", None) is None:
        config.option.xmlpath = str(reports / "junit.xml")
    if getattr(config.option, "allure_report_dir", None) is None:
        config.option.allure_report_dir = str(reports / "allure-results")
        # Only where the run starts: an xdist worker would delete what the others already wrote.
        config.option.clean_alluredir = worker_id(config) is None
    if SESSION_KEY in config.stash:
        session_of(config).figures = FigureLog(figures_path(config))


def figures_path(config: pytest.Config) -> Path | None:
    """``figures.jsonl`` next to the JUnit XML (wherever --junitxml or the report dir put it)."""
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath:
        return Path(xmlpath).resolve().parent / "figures.jsonl"
    return config.stash[REPORT_DIR_KEY] / "figures.jsonl" if REPORT_DIR_KEY in config.stash else None
