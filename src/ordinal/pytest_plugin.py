"""ordinal's pytest plugin (registered through the ``pytest11`` entry point): all the wiring is here.

Options live in one group, ``ordinal``; each has a command-line flag, an ini key
(``ordinal_<name>``) and an environment variable (``ORDINAL_<NAME>``) sharing one help text.
Precedence: an ``ordinal(...)`` marker on the test → command line → environment → ini file →
default; a bad value fails the run naming where it came from.

The cluster is resolved lazily, the first time a test asks for a cluster fixture: the plugin
is loaded into every pytest run in this environment (ordinal's own unit tests too), and a
run that uses no ordinal fixture must not need a cluster. Everything per-session lives on an
object in ``config.stash``; nothing is kept in module globals.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from _pytest._code.code import TerminalRepr

from ordinal import capabilities, hygiene
from ordinal.capabilities import ClusterInfo, DnsAccess
from ordinal.errors import CapabilityMissing, InvalidScenario, InvariantViolated, OrdinalError, WaitTimeout
from ordinal.harness import Timeouts, Workload
from ordinal.kube.client import Target, api_client, resolve
from ordinal.kube.rest import ApiError, Kube
from ordinal.observe.dnsquery import Resolver
from ordinal.observe.recorder import Recorder
from ordinal.reporting import allure as allure_report
from ordinal.reporting import diagnostics
from ordinal.reporting import environment as environment_report
from ordinal.reporting import results as results_report
from ordinal.reporting.figures import Figure, FigureLog
from ordinal.workloads import DEFAULT_IMAGE, run_labels

log = logging.getLogger("ordinal.plugin")

# -- options ----------------------------------------------------------------------------------


def _text(value: str) -> str:
    if not value.strip() or any(c.isspace() for c in value.strip()):
        raise ValueError("expected a non-empty value without spaces")
    return value.strip()


def _class_name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", value.strip()) or len(value.strip()) > 253:
        raise ValueError("expected a StorageClass name (DNS subdomain: a-z, 0-9, '-', '.')")
    return value.strip()


def _replicas(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 2:
        raise ValueError("expected an integer >= 2 (ordering needs at least two pods)")
    return number


def _prefix(value: str) -> str:
    if not re.fullmatch(r"[a-z]([-a-z0-9]{0,18}[a-z0-9])?", value.strip()):
        raise ValueError("expected a DNS label of at most 20 characters starting with a letter")
    return value.strip()


def _scale(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0 or number != number or number == float("inf"):
        raise ValueError("expected a number > 0")
    return number


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE or word == "":
        return True
    if word in _FALSE:
        return False
    raise ValueError("expected yes or no")


def _tristate(value: str) -> bool | None:
    """``auto`` (decide from the target), yes or no."""
    if value.strip().lower() == "auto":
        return None
    try:
        return _flag(value)
    except ValueError:
        raise ValueError("expected yes, no or auto") from None


def _dns(value: str) -> str:
    try:
        capabilities.parse_dns_mode(value)
    except InvalidScenario as err:
        raise ValueError(str(err)) from None
    return value.strip()


@dataclass(frozen=True)
class Option:
    """One setting: its flag, ini key and env var all derive from ``name``."""

    name: str
    help: str
    parse: Callable[[str], Any]
    default: Any
    metavar: str = "VALUE"
    #: "value" takes an argument; "flag" may stand alone (``--keep-namespace-on-failure``).
    kind: str = "value"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return f"ordinal_{self.name}"

    @property
    def env(self) -> str:
        return f"ORDINAL_{self.name.upper()}"


OPTIONS: tuple[Option, ...] = (
    Option(
        "kubeconfig",
        "kubeconfig of the cluster under test (else KUBECONFIG, else the running local cluster; "
        "never ~/.kube/config on its own)",
        _text,
        None,
        "PATH",
    ),
    Option("context", "context in the kubeconfig (default: its current context)", _text, None, "NAME"),
    Option(
        "storage_class",
        "StorageClass for the per-pod volumes (default: the cluster's default class)",
        _class_name,
        None,
        "NAME",
    ),
    Option(
        "image",
        f"image of the pods under test, for air-gapped registries (default {DEFAULT_IMAGE})",
        _text,
        DEFAULT_IMAGE,
        "IMAGE",
    ),
    Option("replicas", "replicas of the sets under test (default 3)", _replicas, 3, "N"),
    Option(
        "namespace_prefix",
        "prefix of the per-test namespaces (default ord)",
        _prefix,
        "ord",
        "PREFIX",
    ),
    Option(
        "keep_namespace_on_failure",
        "leave a failed test's namespace in place for debugging (remove later with `ordinal cleanup`)",
        _flag,
        False,
        "yes|no",
        "flag",
    ),
    Option(
        "timeout_scale",
        "multiply every deadline by this factor, for slow clusters (default 1)",
        _scale,
        1.0,
        "FACTOR",
    ),
    Option(
        "dns",
        "how to reach the cluster DNS: auto, direct:<ip>:<port>, port-forward (TCP to the DNS pod) "
        "or exec (dig/nslookup inside a pod) (default auto)",
        _dns,
        "auto",
        "MODE",
    ),
    Option(
        "allow_disruptive",
        "allow tests that drain and cordon nodes: yes, no or auto (default auto: only on the local cluster)",
        _tristate,
        None,
        "yes|no|auto",
        "flag",
    ),
)
_BY_NAME = {opt.name: opt for opt in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """The resolved options, and where each value came from (for the header and error messages)."""

    kubeconfig: str | None = None
    context: str | None = None
    storage_class: str | None = None
    image: str = DEFAULT_IMAGE
    replicas: int = 3
    namespace_prefix: str = "ord"
    keep_namespace_on_failure: bool = False
    timeout_scale: float = 1.0
    dns: str = "auto"
    allow_disruptive: bool | None = None
    sources: Mapping[str, str] = field(default_factory=dict)


class SettingError(Exception):
    """A bad option value: the message names the key and its source."""


def _parse(opt: Option, raw: object, key: str, source: str) -> Any:
    try:
        return opt.parse(str(raw))
    except ValueError as err:
        raise SettingError(f"invalid {key} '{raw}' from {source}: {err}") from None


def read_settings(
    cli: Mapping[str, object],
    env: Mapping[str, str],
    ini: Mapping[str, str],
    marker: Mapping[str, object] | None = None,
    marker_source: str = "marker",
) -> Settings:
    """Apply the precedence marker → CLI → env → ini → default to every option.

    ``cli`` holds the parsed flags (None when not given), ``ini`` the raw ini strings ("" when
    not set). Raises SettingError naming the key and source of the first bad value.
    """
    unknown = sorted(set(marker or {}) - set(_BY_NAME))
    if unknown:
        raise SettingError(
            f"invalid {marker_source}: unknown option {unknown[0]!r}, expected one of {sorted(_BY_NAME)}"
        )
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        layers: list[tuple[object, str, str]] = [
            ((marker or {}).get(opt.name), f"ordinal({opt.name}=…)", marker_source),
            (cli.get(opt.name), opt.flag, "command line"),
            (env.get(opt.env), opt.env, "environment"),
            (ini.get(opt.ini) or None, opt.ini, "ini file"),
        ]
        for raw, key, source in layers:
            if raw is not None:
                values[opt.name] = _parse(opt, raw, key, source)
                sources[opt.name] = source
                break
        else:
            values[opt.name] = opt.default
            sources[opt.name] = "default"
    return Settings(**values, sources=sources)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ordinal", "ordinal: StatefulSet conformance against a cluster")
    for opt in OPTIONS:
        text = f"{opt.help}. ini: {opt.ini}, env: {opt.env}"
        dest = f"ordinal_{opt.name}"
        if opt.kind == "flag":
            group.addoption(opt.flag, dest=dest, nargs="?", const="yes", default=None, metavar=opt.metavar, help=text)
        else:
            group.addoption(opt.flag, dest=dest, default=None, metavar=opt.metavar, help=text)
        parser.addini(opt.ini, text, default="")


def settings_of(config: pytest.Config, marker: Mapping[str, object] | None = None, where: str = "") -> Settings:
    cli = {opt.name: config.getoption(f"ordinal_{opt.name}") for opt in OPTIONS}
    ini = {opt.ini: str(config.getini(opt.ini) or "") for opt in OPTIONS}
    return read_settings(cli, os.environ, ini, marker, f"marker on {where}" if where else "marker")


# -- markers ----------------------------------------------------------------------------------

MARKERS = {
    "needs(*capabilities)": "skip unless the cluster has them; names: "
    + ", ".join([*capabilities.CAPABILITIES, "nodes:<n>", "zones:<n>", "gate:<FeatureGate>"]),
    'min_version("1.32")': "skip on Kubernetes servers older than this",
    "disruptive": "drains or cordons nodes; runs last, and only with --allow-disruptive (default: local cluster)",
    "chaos": "breaks cluster components on purpose (node loss); runs last, only with --allow-disruptive",
    "flaky_known(reason, issue)": "a known flake, tracked in issue; a failure is reported as xfail, never rerun",
    "promise(epic, feature, story)": "report labels: epic = promise area, feature, story (module or test level)",
    "ordinal(**options)": "per-test option overrides, e.g. ordinal(timeout_scale=2); highest precedence",
}

_DISRUPTIVE_REASON = (
    "disruptive: drains/cordons nodes; enable with --allow-disruptive "
    "(ORDINAL_ALLOW_DISRUPTIVE, ordinal_allow_disruptive; on by default only for the local cluster)"
)


# -- session state ----------------------------------------------------------------------------


class Session:
    """Per-run state: the lazily built client, capabilities, namespaces to clean and figures."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.run_id = hygiene.new_run_id()
        self._lock = threading.RLock()
        self._target: Target | None = None
        self._kube: Kube | None = None
        self._info: ClusterInfo | None = None
        self._probe_namespace: str | None = None
        self._resolver: Resolver | None = None
        self._image: str | None = None
        self.live_namespaces: dict[str, str] = {}
        self.kept_namespaces: dict[str, str] = {}
        self.figures = FigureLog(figures_path(config))
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
    def timeouts(self) -> Timeouts:
        return Timeouts(self.settings.timeout_scale)

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
                self._kube = Kube(api_client(self.target()))
            return self._kube

    def recorder_kube(self) -> Kube:
        """A client for the timeline recorders alone, so their lists and watches are counted apart."""
        with self._lock:
            if self._recorder_kube is None:
                self._recorder_kube = Kube(api_client(self.target()))
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
                        from ordinal.localcluster.state import node_image  # lazy: the launcher is optional

                        self._image = node_image() or self.settings.image
            return self._image

    def disruptive_allowed(self) -> bool:
        if self.settings.allow_disruptive is not None:
            return self.settings.allow_disruptive
        try:
            return self.target().local
        except OrdinalError:
            return False

    def probe_namespace(self) -> str:
        """A namespace of this run for discovery probes (dry-run create, exec probe pod)."""
        with self._lock:
            if self._probe_namespace is None:
                ns = hygiene.create_namespace(
                    self.kube(), self.run_id, f"{self.settings.namespace_prefix}-probe", timeout=self.timeouts.pod
                )
                self._probe_namespace = ns
                self.live_namespaces[ns] = "capability probes"
            return self._probe_namespace

    def info(self) -> ClusterInfo:
        with self._lock:
            if self._info is None:
                self._info = self._discover()
            return self._info

    def _discover(self) -> ClusterInfo:
        kube, target = self.kube(), self.target()
        labels = run_labels(self.run_id)
        probes = capabilities.Probes(
            dry_run=lambda manifest: capabilities.dry_run_in(kube, self.probe_namespace())(manifest),
            exec_probe=lambda: capabilities.exec_probe(
                kube, self.probe_namespace(), self.image(), labels, timeout=self.timeouts.pod
            ),
        )
        info = capabilities.discover(
            kube,
            target,
            probes=probes,
            storage_class=self.settings.storage_class,
            dns=DnsAccess("none", why_not="not probed"),
        )
        dns, self._resolver = self._dns_access(info)
        return replace(info, dns=dns)

    def _dns_access(self, info: ClusterInfo) -> tuple[DnsAccess, Resolver | None]:
        """Pick the resolver per --dns; a mode that was asked for explicitly is never swapped silently."""
        from ordinal.localcluster import state
        from ordinal.observe import dnsquery

        mode, server = capabilities.parse_dns_mode(self.settings.dns)
        kube = self.kube()
        tried: list[str] = []
        if mode == "auto" and info.local:
            data = state.read() or {}
            if data.get("dns"):
                mode, server = "direct", str(data["dns"])
        if mode == "direct":
            host, port = dnsquery.parse_server(server)
            return self._checked(dnsquery.DirectResolver(host, port), "direct", tried)
        if mode in ("auto", "port-forward"):
            try:
                ns, pod, port = dnsquery.find_dns_pod(kube)
                access, resolver = self._checked(
                    dnsquery.PortForwardResolver(kube, ns, pod, port), "port-forward", tried
                )
                if resolver is not None or mode == "port-forward":
                    return access, resolver
            except (OrdinalError, ApiError) as err:
                tried.append(f"port-forward: {str(err).splitlines()[0]}")
                if mode == "port-forward":
                    return DnsAccess("none", why_not="; ".join(tried)), None
        if not info.exec_pods:
            tried.append(f"exec: {info.exec_why_not}")
            return DnsAccess("none", why_not="; ".join(tried)), None
        resolver = dnsquery.ExecResolver(kube, self.probe_namespace(), capabilities.EXEC_PROBE_POD)
        return self._checked(resolver, "exec", tried)

    def _checked(self, resolver: Resolver, mode: str, tried: list[str]) -> tuple[DnsAccess, Resolver | None]:
        """Ask for the API server's own Service name: any answer (even NXDOMAIN) proves reachability."""
        try:
            resolver.query("kubernetes.default.svc.cluster.local", "A")
        except (OrdinalError, ApiError) as err:
            tried.append(f"{mode}: {str(err).splitlines()[0]}")
            return DnsAccess("none", why_not="; ".join(tried)), None
        return DnsAccess(mode, where=repr(resolver)), resolver

    def resolver(self) -> Resolver:
        info = self.info()
        if self._resolver is None:
            raise CapabilityMissing(capabilities.CAPABILITIES["dns"], info.dns.why_not)
        return self._resolver

    def create_namespace(self, nodeid: str) -> str:
        ns = hygiene.create_namespace(
            self.kube(), self.run_id, self.settings.namespace_prefix, timeout=self.timeouts.pod
        )
        self.live_namespaces[ns] = nodeid
        return ns

    def delete_namespace(self, ns: str, kube: Kube | None = None) -> list[str]:
        errors = hygiene.delete_namespace(kube or self.kube(), ns, timeout=self.timeouts.gone)
        if not errors:
            self.live_namespaces.pop(ns, None)
        return errors

    def reap(self, ns: str) -> None:
        """Delete a test's namespace in the background; its errors are collected at session end.

        Namespace deletion takes the namespace controller 5-10 s even for an empty namespace;
        waiting for it after every test would double the suite's time. Each namespace still
        goes through :func:`hygiene.delete_namespace` (namespace gone, then its PVs).
        """
        with self._lock:
            if self._reaper is None:
                self._reaper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ordinal-reaper")
                # A client of its own, so cleanup requests do not count against the next test.
                self._reaper_kube = Kube(api_client(self.target()))
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

    def finish(self) -> None:
        """Remove what is left (after an interrupt), undo node changes, then look for leaks."""
        kube = self._kube
        if kube is None:
            return
        close = getattr(self._resolver, "close", None)
        if callable(close):
            close()
        self._join_reaper()
        for ns in list(self.live_namespaces):
            self.cleanup_errors += self.delete_namespace(ns)
        try:
            for node in hygiene.ledger_nodes(kube, self.run_id):
                hygiene.restore_node(kube, node)
            found = hygiene.leaks(kube, self.run_id)
        except (OrdinalError, ApiError) as err:
            self.cleanup_errors.append(f"leak check: {err}")
            found = []
        kept = {f"namespace/{ns}" for ns in self.kept_namespaces}
        self.leaks = [leak for leak in found if leak not in kept]
        kube.close()
        if self._recorder_kube is not None:
            self._recorder_kube.close()


SESSION_KEY = pytest.StashKey[Session]()
RECORDER_KEY = pytest.StashKey[Recorder]()
NAMESPACE_KEY = pytest.StashKey[str]()
REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
FIGURES_KEY = pytest.StashKey[list[Figure]]()
REPORT_DIR_KEY = pytest.StashKey[Path]()
START_KEY = pytest.StashKey[tuple[int, int, float]]()
ERRORS_KEY = pytest.StashKey[dict[str, BaseException]]()
RESULTS_KEY = pytest.StashKey[results_report.ResultLog | None]()
_SIGNAL_KEY = pytest.StashKey[Any]()


def session_of(config: pytest.Config) -> Session:
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
        config.option.clean_alluredir = True
    if SESSION_KEY in config.stash:
        session_of(config).figures = FigureLog(figures_path(config))


def figures_path(config: pytest.Config) -> Path | None:
    """``figures.jsonl`` next to the JUnit XML (wherever --junitxml or the report dir put it)."""
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath:
        return Path(xmlpath).resolve().parent / "figures.jsonl"
    return config.stash[REPORT_DIR_KEY] / "figures.jsonl" if REPORT_DIR_KEY in config.stash else None


# -- configure / collection -------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    try:
        settings = settings_of(config)
    except SettingError as err:
        raise pytest.UsageError(str(err)) from None
    session = Session(config, settings)
    config.stash[SESSION_KEY] = session
    logging.getLogger("ordinal.step").setLevel(logging.INFO)
    if threading.current_thread() is threading.main_thread():
        config.stash[_SIGNAL_KEY] = signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so fixture teardown and the session-end cleanup still run."""
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start this run's ``figures.jsonl`` afresh, so a report never mixes two runs' figures."""
    path = session_of(session.config).figures.path
    if path is not None and path.is_file() and not session.config.option.collectonly:
        path.unlink()
    results = _results_log(session.config)
    if results is not None and not session.config.option.collectonly:
        results.reset()


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_SIGNAL_KEY, None)
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if SESSION_KEY not in config.stash:
        return []
    settings = session_of(config).settings
    changed = [
        f"{name}={getattr(settings, name)} ({source})"
        for name, source in settings.sources.items()
        if source != "default"
    ]
    return [f"ordinal: run {session_of(config).run_id}" + (f"; {', '.join(changed)}" if changed else "")]


def _first_doc_line(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def _promise_labels(item: pytest.Item) -> dict[str, str]:
    labels: dict[str, str] = {}
    for mark in item.iter_markers("promise"):  # closest first
        values = dict(zip(("epic", "feature", "story"), mark.args, strict=False)) | dict(mark.kwargs)
        for key, value in values.items():
            labels.setdefault(key, str(value))
    return labels


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Validate markers, label for the report, skip disruptive tests unless allowed, run them last."""
    state = session_of(config)
    disruptive: list[pytest.Item] = []
    for item in items:
        _validate_markers(item)
        labels = _promise_labels(item)
        if labels:
            callspec = getattr(item, "callspec", None)
            story = labels.get("story") or (callspec.id if callspec else item.name)
            allure_report.label_item(
                item, epic=labels.get("epic", "StatefulSet"), feature=labels.get("feature", ""), story=story
            )
        title = _first_doc_line(item)
        function = getattr(item, "function", None)
        if title and function is not None:
            allure_report.title_function(function, title, parametrized=hasattr(item, "callspec"))
        flaky = item.get_closest_marker("flaky_known")
        if flaky is not None:
            reason, issue = flaky.kwargs.get("reason", ""), flaky.kwargs.get("issue", "")
            item.add_marker(pytest.mark.xfail(reason=f"known flake: {reason} (issue {issue})", strict=False))
        if item.get_closest_marker("disruptive") or item.get_closest_marker("chaos"):
            disruptive.append(item)
    if disruptive and not state.disruptive_allowed():
        for item in disruptive:
            item.add_marker(pytest.mark.skip(reason=_DISRUPTIVE_REASON))
    if disruptive:
        chosen = set(map(id, disruptive))
        items[:] = [i for i in items if id(i) not in chosen] + disruptive


def _validate_markers(item: pytest.Item) -> None:
    try:
        for mark in item.iter_markers("needs"):
            for capability in mark.args:
                capabilities.describe(str(capability))
        for mark in item.iter_markers("min_version"):
            if len(mark.args) != 1:
                raise InvalidScenario(f'expected min_version("1.32") with one version, got {mark.args!r}')
            capabilities.parse_version(str(mark.args[0]))
        flaky = item.get_closest_marker("flaky_known")
        if flaky is not None and not (flaky.kwargs.get("reason") and flaky.kwargs.get("issue")):
            raise InvalidScenario("expected flaky_known(reason=..., issue=...) with both set")
        marker = item.get_closest_marker("ordinal")
        if marker is not None:
            settings_of(item.config, marker.kwargs, item.nodeid)
    except (InvalidScenario, SettingError) as err:
        raise pytest.UsageError(f"{item.nodeid}: {err}") from None


# -- runtime hooks ----------------------------------------------------------------------------


def _requests_so_far(state: Session) -> tuple[int, int]:
    """(test's own requests, timeline recorder's requests) counted so far this session."""
    kube, recorder = state.kube_or_none, state.recorder_kube_or_none
    return (
        sum(kube.requests.values()) if kube is not None else 0,
        sum(recorder.requests.values()) if recorder is not None else 0,
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Note where the request counters stood, for "API requests per test" (read at teardown)."""
    own, recorder = _requests_so_far(session_of(item.config))
    item.stash[START_KEY] = (own, recorder, time.monotonic())


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """A capability the test itself finds missing is a skip naming it; a broken promise is a failure."""
    try:
        return (yield)
    except CapabilityMissing as err:
        pytest.skip(str(err).splitlines()[0])
    except (InvariantViolated, WaitTimeout) as err:
        allure_report.count_as_failure(err)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(REPORTS_KEY, {})[report.when] = report
    if report.failed and call.excinfo is not None:
        item.stash.setdefault(ERRORS_KEY, {})[report.when] = call.excinfo.value
    if report.when == "teardown":
        state = session_of(item.config)
        for figure in item.stash.get(FIGURES_KEY, []):
            report.user_properties.append((f"figure:{figure.name}", f"{figure.seconds:.3f}"))
        own_before, recorder_before, started = item.stash.get(START_KEY, (0, 0, time.monotonic()))
        own, recorder = _requests_so_far(state)
        if own - own_before:
            state.requests[item.nodeid] = own - own_before
            state.recorder_requests[item.nodeid] = recorder - recorder_before
            state.durations[item.nodeid] = time.monotonic() - started
            report.user_properties.append(("api_requests", str(own - own_before)))
            report.user_properties.append(("api_requests_recorder", str(recorder - recorder_before)))
        _record_result(item)
    if report.failed and report.when in ("setup", "call"):
        _attach_failure(item, report)
    return report


def _attach_failure(item: pytest.Item, report: pytest.TestReport) -> None:
    """Timeline excerpt into the failure text; timeline JSON and a state dump into allure."""
    recorder = item.stash.get(RECORDER_KEY, None)
    sections: dict[str, str] = {}
    if recorder is not None and len(recorder.timeline):
        sections["ordinal timeline"] = recorder.timeline.excerpt()
        allure_report.attach_json("timeline", recorder.timeline.to_json())
        if recorder.errors:
            sections["ordinal recorder errors"] = "\n".join(recorder.errors[-10:])
    namespace = item.stash.get(NAMESPACE_KEY, None)
    state = session_of(item.config)
    if namespace and state.kube_or_none is not None:
        for title, text in diagnostics.dump(state.kube_or_none, namespace).items():
            sections[f"ordinal {title} in {namespace}"] = text
            allure_report.attach_text(f"{title} ({namespace})", text)
    longrepr = report.longrepr
    for title, text in sections.items():
        if isinstance(longrepr, TerminalRepr) and hasattr(longrepr, "addsection"):
            longrepr.addsection(title, text)
        else:
            report.sections.append((title, text))


# -- records for `ordinal report` (results.jsonl, environment.json, session.json) --------------


def _results_log(config: pytest.Config) -> results_report.ResultLog | None:
    """The per-test record file beside ``figures.jsonl``; None when the run writes no reports."""
    if RESULTS_KEY not in config.stash:
        path = figures_path(config)
        config.stash[RESULTS_KEY] = (
            results_report.ResultLog(path.parent / results_report.RESULTS_FILE) if path else None
        )
    return config.stash[RESULTS_KEY]


def _phase(report: pytest.TestReport) -> results_report.Phase:
    reason = ""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = results_report.skip_reason(str(report.longrepr[2]))
    xfail = getattr(report, "wasxfail", None)
    if xfail is not None:
        reason = str(xfail)
    return results_report.Phase(report.outcome, report.duration, reason, xfail is not None)


def _record_result(item: pytest.Item) -> None:
    """One line of ``results.jsonl`` per test, written at teardown once every phase has reported."""
    results = _results_log(item.config)
    if results is None:
        return
    reports = item.stash.get(REPORTS_KEY, {})
    errors = item.stash.get(ERRORS_KEY, {})
    failed = next((r for r in reports.values() if r.failed), None)
    recorder = item.stash.get(RECORDER_KEY, None)
    callspec = getattr(item, "callspec", None)
    labels = _promise_labels(item)
    labels.setdefault("story", callspec.id if callspec else "")
    try:
        line = results_report.record(
            test=item.nodeid,
            title=_first_doc_line(item) or item.name,
            labels=labels,
            phases={when: _phase(r) for when, r in reports.items()},
            started=min((r.start for r in reports.values()), default=time.time()),
            error=next(iter(errors.values()), None),
            failure_text=failed.longreprtext if failed is not None else "",
            timeline=recorder.timeline if recorder is not None else None,
        )
        results.add(line)
    except Exception as err:  # the side channel must never turn a test's result into an internal error
        log.warning("could not write the result of %s to %s: %s", item.nodeid, results.path, err)


def _write_environment(config: pytest.Config, state: Session) -> None:
    """``environment.json`` while the client is still open (before the session cleans up)."""
    path, info, kube = figures_path(config), state.info_or_none, state.kube_or_none
    if path is not None and info is not None and kube is not None:
        try:
            environment_report.write(
                path.parent / environment_report.ENVIRONMENT_FILE, environment_report.collect(kube, info)
            )
        except Exception as err:  # cleanup runs next and must not be skipped for a report file
            log.warning("could not write %s: %s", environment_report.ENVIRONMENT_FILE, err)


def _write_session(config: pytest.Config, state: Session) -> None:
    path = figures_path(config)
    if path is not None and not config.option.collectonly:
        record = environment_report.session_record(
            state.run_id, state.leaks, state.cleanup_errors, state.kept_namespaces
        )
        environment_report.write(path.parent / environment_report.SESSION_FILE, record)


def _failed(item: pytest.Item) -> bool:
    reports = item.stash.get(REPORTS_KEY, {})
    return any(r.failed for r in reports.values())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After every fixture is torn down (trylast): clean up leftovers, check leaks, write the environment."""
    state = session_of(session.config)
    _write_environment(session.config, state)
    state.finish()
    _write_session(session.config, state)
    info = state.info_or_none
    results_dir = getattr(session.config.option, "allure_report_dir", None)
    if info is not None and results_dir:
        allure_report.write_environment(
            results_dir, [(line.split(":", 1)[0], line.split(":", 1)[1].strip()) for line in info.summary()]
        )
    if (state.leaks or state.cleanup_errors) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(SESSION_KEY, None)
    if state is None or (state.info_or_none is None and not state.figures.figures):
        return
    write = terminalreporter.write_line
    terminalreporter.section("ordinal")
    if state.info_or_none is not None:
        for line in state.info_or_none.summary():
            write(line)
    if state.requests:
        tests = len(state.requests)
        own = sorted(state.requests.values())
        recorded = sum(state.recorder_requests.values())
        write(
            f"API requests per test: median {own[tests // 2]}, max {own[-1]} (actions, waits, checks; "
            f"{sum(own)} in {tests} tests) + {recorded / tests:.0f} for the timeline recorder (lists + watches). "
            "Each wait is one list and one watch however long it lasts; a 1-second poller sends one GET "
            f"per second waited. Namespace cleanup in the background: {state.cleanup_requests}"
        )
    for figure in state.figures.figures:
        write(f"figure {figure.name}: {figure.seconds:.3f}s  ({figure.test})")
    for ns, nodeid in state.kept_namespaces.items():
        write(f"kept namespace {ns} of failed {nodeid} (remove with `ordinal cleanup --run-id {state.run_id}`)")
    for error in state.cleanup_errors:
        write(f"cleanup error: {error}", red=True)
    if state.leaks:
        write(f"leaked: {', '.join(state.leaks)}", red=True)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def ordinal_settings(request: pytest.FixtureRequest) -> Settings:
    """The options for this test: an ``ordinal(...)`` marker overrides the session's values."""
    marker = request.node.get_closest_marker("ordinal")
    if marker is None:
        return session_of(request.config).settings
    return settings_of(request.config, marker.kwargs, request.node.nodeid)


@pytest.fixture(scope="session")
def run_id(request: pytest.FixtureRequest) -> str:
    """This run's id: the ``ordinal/run`` label on everything it creates."""
    return session_of(request.config).run_id


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest) -> Kube:
    """The API client for the target cluster (resolved now, on first use, never at import)."""
    try:
        return session_of(request.config).kube()
    except InvalidScenario as err:
        pytest.fail(f"ordinal: {err}", pytrace=False)


@pytest.fixture(scope="session")
def cluster_info(request: pytest.FixtureRequest, kube: Kube) -> ClusterInfo:
    """Server version, probed gates and capabilities, discovered once per session."""
    info = session_of(request.config).info()
    allure_report.attach_json("cluster capabilities", info.to_json())
    return info


@pytest.fixture(autouse=True)
def _ordinal_needs(request: pytest.FixtureRequest) -> None:
    """needs()/min_version(): skip naming the missing capability; discovery only if a test asks."""
    node = request.node
    needed = [str(c) for mark in node.iter_markers("needs") for c in mark.args]
    version = node.get_closest_marker("min_version")
    if not needed and version is None:
        return
    info: ClusterInfo = request.getfixturevalue("cluster_info")
    reason = capabilities.missing(info, needed, str(version.args[0]) if version else None)
    if reason:
        pytest.skip(reason)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kube: Kube) -> Iterator[str]:
    """A fresh namespace for this test, labelled with the run id; removed after it (kept on failure if asked)."""
    state = session_of(request.config)
    settings: Settings = request.getfixturevalue("ordinal_settings")
    name = state.create_namespace(request.node.nodeid)
    request.node.stash[NAMESPACE_KEY] = name
    yield name
    if settings.keep_namespace_on_failure and _failed(request.node):
        state.live_namespaces.pop(name, None)
        state.kept_namespaces[name] = request.node.nodeid
        return
    state.reap(name)


@pytest.fixture
def recorder(request: pytest.FixtureRequest, kube: Kube, namespace: str) -> Iterator[Recorder]:
    """Watches over the test's namespace (and PVs, nodes) feeding one timeline, started before the test acts."""
    state = session_of(request.config)
    rec = Recorder(state.recorder_kube(), namespace).start(timeout=state.timeouts.pod)
    request.node.stash[RECORDER_KEY] = rec
    yield rec
    rec.stop()


@pytest.fixture
def workload(
    request: pytest.FixtureRequest, kube: Kube, namespace: str, cluster_info: ClusterInfo, run_id: str
) -> Workload:
    """The StatefulSet under test (not yet created), set up with this run's image, class and deadlines."""
    settings: Settings = request.getfixturevalue("ordinal_settings")
    return Workload(
        kube,
        namespace,
        image=session_of(request.config).image(),
        storage_class=settings.storage_class,
        replicas=settings.replicas,
        timeouts=Timeouts(settings.timeout_scale),
        simulated_nodes=frozenset(cluster_info.simulated_nodes),
        exec_node_selector=cluster_info.exec_node_selector,
        labels=run_labels(run_id),
    )


@pytest.fixture
def dns_resolver(request: pytest.FixtureRequest, cluster_info: ClusterInfo) -> Resolver:
    """A resolver for the cluster DNS chosen by --dns (skips naming the capability if there is none)."""
    return session_of(request.config).resolver()


class Figures:
    """Record measured times for this test: JUnit property, allure attachment, ``figures.jsonl``."""

    def __init__(self, node: pytest.Item, log: FigureLog) -> None:
        self._node, self._log = node, log

    def record(self, name: str, seconds: float) -> None:
        figure = Figure(self._node.nodeid, name, round(seconds, 3))
        self._node.stash.setdefault(FIGURES_KEY, []).append(figure)
        self._log.add(figure)
        allure_report.attach_json(f"figure {name}", figure.to_json())
        log.info("figure %s: %.3fs", name, seconds)

    def note(self, name: str, text: str) -> None:
        """An observation that is not a time (e.g. whether a known upstream trap showed): a JUnit property."""
        self._node.user_properties.append((name, text))
        allure_report.attach_text(name, text)
        log.info("note %s: %s", name, text)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.node, session_of(request.config).figures)
