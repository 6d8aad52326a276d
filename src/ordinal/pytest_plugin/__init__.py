"""ordinal's pytest plugin (registered through the ``pytest11`` entry point): hooks, markers and fixtures.

Options are in :mod:`.settings`, the per-run state in :mod:`.session`, what a run writes for
reports in :mod:`.records`. The cluster is resolved lazily, the first time a test asks for a
cluster fixture: the plugin is loaded into every pytest run in this environment (ordinal's own
unit tests too), and a run that uses no ordinal fixture must not need a cluster.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from ordinal import capabilities
from ordinal.act.nodes import NodeCommands
from ordinal.act.workload import Timeouts, Workload
from ordinal.artefacts import allure as allure_report
from ordinal.artefacts.figures import Figure
from ordinal.capabilities import ClusterInfo
from ordinal.errors import CapabilityMissing, InvalidScenario, InvariantViolated, OrdinalError, WaitTimeout
from ordinal.kube.manifests import run_labels
from ordinal.kube.rest import ApiError, Kube
from ordinal.observe.dnsquery import Resolver
from ordinal.observe.recorder import ATTACHMENTS, CLUSTER_WIDE, NAMESPACED, Recorder
from ordinal.pytest_plugin import progress
from ordinal.pytest_plugin.records import (
    Figures,
    attach_failure,
    first_doc_line,
    promise_labels,
    record_result,
    results_log,
    write_environment,
    write_session,
)
from ordinal.pytest_plugin.session import (
    _SIGNAL_KEY,
    ERRORS_KEY,
    FIGURES_KEY,
    NAMESPACE_KEY,
    RECORDER_KEY,
    REPORTS_KEY,
    SESSION_KEY,
    START_KEY,
    SuiteSession,
    session_of,
    use_report_dir,
)
from ordinal.pytest_plugin.settings import OPTIONS, SettingError, Settings, read_settings, settings_of
from ordinal.pytest_plugin.workers import (
    LOCK_DIR_KEY,
    OUTPUT_KEY,
    RUN_ID_KEY,
    SCHEDULE_KEY,
    WorkerOutput,
    access_of,
    distributed,
    make_lock_dir,
    read_accesses,
    remove_lock_dir,
    run_order,
    scheduled,
    together,
    write_accesses,
)
from ordinal.target import connect, resolve, workers_for

__all__ = ["OPTIONS", "RECORDER_KEY", "Figures", "SettingError", "Settings", "read_settings", "use_report_dir"]

log = logging.getLogger("ordinal.plugin")


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


# -- markers ----------------------------------------------------------------------------------

MARKERS = {
    "needs(*capabilities)": "skip unless the cluster has them; names: "
    + ", ".join([*capabilities.CAPABILITIES, "nodes:<n>", "zones:<n>", "gate:<FeatureGate>"]),
    'min_version("1.32")': "skip on Kubernetes servers older than this",
    "disruptive": "drains or cordons nodes; runs last, and only with --allow-disruptive (default: local cluster)",
    "chaos": "breaks cluster components on purpose (node loss); runs last, only with --allow-disruptive",
    "isolates_node": "a node-loss test whose lost node hosts only its own pods (a simulated node it adds for"
    " itself, or one it cordons and clears): in a parallel run it overlaps ordinary tests (one at a time with"
    " drains), instead of running alone",
    "flaky_known(reason, issue)": "a known flake, tracked in issue; a failure is reported as xfail, never rerun",
    "promise(epic, feature, story)": "report labels: epic = promise area, feature, story (module or test level)",
    "ordinal(**options)": "per-test option overrides, e.g. ordinal(timeout_scale=2); highest precedence",
}

_DISRUPTIVE_REASON = (
    "disruptive: drains/cordons nodes; enable with --allow-disruptive "
    "(ORDINAL_ALLOW_DISRUPTIVE, ordinal_allow_disruptive; on by default only for the local cluster)"
)


# -- configure / collection -------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    try:
        settings = settings_of(config)
    except SettingError as err:
        raise pytest.UsageError(str(err)) from None
    session = SuiteSession(config, settings)
    config.stash[SESSION_KEY] = session
    if session.worker is not None:
        # The controller cleaned the results directory before any worker wrote to it; a worker
        # cleaning it too would delete what the others already wrote.
        config.option.clean_alluredir = False
    elif distributed(config):
        session.lock_dir = make_lock_dir()
    config.pluginmanager.register(_Tally(session), "ordinal-tally")
    if session.worker is None and os.environ.get(progress.ENV) == "1":
        config.pluginmanager.register(progress.TestProgress(progress.terminal_writer(config)), "ordinal-progress")
    logging.getLogger("ordinal.step").setLevel(logging.INFO)
    if threading.current_thread() is threading.main_thread():
        config.stash[_SIGNAL_KEY] = signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so fixture teardown and the session-end cleanup still run."""
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` sized by the cluster under test (two workers per schedulable node), not by this machine's CPUs.

    None (xdist's own count) when the cluster cannot be read, whatever the reason: the count only sizes the
    run, and the run's first test that needs the cluster fails naming why.
    """
    try:
        settings = settings_of(config)
        with connect(resolve(settings.kubeconfig, settings.context)) as kube:
            return workers_for(kube)
    except Exception:
        return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist controller under ``--dist load`` (what ``-n`` picks): the schedulable tests first, on one worker."""
    state = session_of(config)
    if config.option.dist != "load" or state.lock_dir is None:
        return None
    from ordinal.pytest_plugin import schedule

    return schedule.make(config, log, state.lock_dir)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand each worker the run id and the lock directory (see :mod:`.workers`)."""
    state = session_of(node.config)
    node.workerinput[RUN_ID_KEY] = state.run_id
    if state.lock_dir is not None:
        node.workerinput[LOCK_DIR_KEY] = str(state.lock_dir)
        node.workerinput[SCHEDULE_KEY] = node.config.option.dist == "load"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: take what a finished worker kept, failed to clean and called."""
    output = getattr(node, "workeroutput", {}).get(OUTPUT_KEY)
    if output:
        session_of(node.config).take(WorkerOutput.from_json(output))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start this run's ``figures.jsonl`` afresh, so a report never mixes two runs' figures.

    Only where the run starts: an xdist worker appends to what its controller started.
    """
    if session_of(session.config).worker is not None:
        return
    path = session_of(session.config).figures.path
    if path is not None and path.is_file() and not session.config.option.collectonly:
        path.unlink()
    results = results_log(session.config)
    if results is not None and not session.config.option.collectonly:
        results.reset()


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(SESSION_KEY, None)
    if state is not None and state.lock_dir is not None:
        remove_lock_dir(state.lock_dir)
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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Validate markers, label for the report, skip disruptive tests unless allowed, run them last."""
    state = session_of(config)
    disruptive: list[pytest.Item] = []
    for item in items:
        _validate_markers(item)
        labels = promise_labels(item)
        if labels:
            callspec = getattr(item, "callspec", None)
            story = labels.get("story") or (callspec.id if callspec else item.name)
            allure_report.label_item(
                item, epic=labels.get("epic", "StatefulSet"), feature=labels.get("feature", ""), story=story
            )
        title = first_doc_line(item)
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
    if state.locks is not None and scheduled(config):
        _parallel_order(state.locks.directory, items)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """A scheduled xdist worker discovers the cluster before it reports its collection (xdist's own hook).

    Discovery holds ``schedulable`` shared and the schedulable unit starts as soon as tests go out: a
    worker that discovered only then would wait for a whole drain. A failure here is left to the first
    test that needs the cluster, which names it.
    """
    state = session_of(session.config)
    if state.locks is None or not scheduled(session.config) or session.config.option.collectonly:
        return
    if together(read_accesses(state.locks.directory)):
        try:
            state.info()
        except Exception as err:
            log.debug("discovery before the first test: %s", err)


def _parallel_order(lock_dir: Path, items: list[pytest.Item]) -> None:
    """An xdist worker under ``--dist load``: :func:`run_order`, and tell the controller's scheduler each access."""
    accesses = {i.nodeid: access_of(i, uses_cluster="kube" in getattr(i, "fixturenames", ())) for i in items}
    by_id = {item.nodeid: item for item in items}
    items[:] = [by_id[nodeid] for nodeid in run_order(accesses.items())]
    write_accesses(lock_dir, accesses)


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


def _requests_so_far(state: SuiteSession) -> tuple[int, int]:
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
            state.durations[item.nodeid] = time.monotonic() - started
            report.user_properties.append(("api_requests", str(own - own_before)))
            report.user_properties.append(("api_requests_recorder", str(recorder - recorder_before)))
        record_result(item)
    if report.failed and report.when in ("setup", "call"):
        attach_failure(item, report)
    return report


class _Tally:
    """Requests and figures per test, read from the teardown report.

    The same in a serial run and in an xdist controller, which sees only its workers' reports
    (their ``user_properties`` travel with them).
    """

    def __init__(self, state: SuiteSession) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        props = dict(report.user_properties)
        if "api_requests" in props:
            self.state.requests[report.nodeid] = int(str(props["api_requests"]))
            self.state.recorder_requests[report.nodeid] = int(str(props.get("api_requests_recorder", 0)))
        for key, value in report.user_properties:
            if str(key).startswith("figure:"):
                self.state.reported_figures.append(Figure(report.nodeid, str(key)[len("figure:") :], float(str(value))))


def _failed(item: pytest.Item) -> bool:
    reports = item.stash.get(REPORTS_KEY, {})
    return any(r.failed for r in reports.values())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After every fixture is torn down (trylast): clean up leftovers, check leaks, write the environment.

    An xdist worker cleans up after itself and hands the rest to the controller, which runs
    after every worker is down (xdist's own sessionfinish stops them first) and checks the run.
    """
    config = session.config
    state = session_of(config)
    if state.worker is None and state.lock_dir is not None:
        state.finish_run()
    else:
        write_environment(config, state)
        state.finish()
    if state.worker is None:
        write_session(config, state)
    else:
        workeroutput = getattr(config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[OUTPUT_KEY] = state.worker_output().to_json()
    info = state.info_or_none
    results_dir = getattr(config.option, "allure_report_dir", None)
    if info is not None and results_dir:
        allure_report.write_environment(
            results_dir, [(line.split(":", 1)[0], line.split(":", 1)[1].strip()) for line in info.summary()]
        )
    if (state.leaks or state.cleanup_errors) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(SESSION_KEY, None)
    if state is None or (not state.summary() and not state.reported_figures and not state.requests):
        return
    write = terminalreporter.write_line
    terminalreporter.section("ordinal")
    for line in state.summary():
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
        write(f"API requests in all: {sum(own) + recorded + state.cleanup_requests}")
    for figure in state.reported_figures:
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
    """Server version, probed gates and capabilities, discovered once per session.

    A discovery that cannot even read the cluster (a 403 on a required permission) ends the run
    in one line; what it created is removed at the session's end.
    """
    try:
        info = session_of(request.config).info()
    except (OrdinalError, ApiError) as err:
        pytest.exit(f"ordinal: capability discovery failed: {str(err).strip().splitlines()[0]}", 4)
    allure_report.attach_json("cluster capabilities", info.to_json())
    return info


@pytest.fixture(autouse=True)
def _ordinal_needs(request: pytest.FixtureRequest) -> None:
    """needs()/min_version(): skip naming the missing capability; discovery only if a test asks."""
    node = request.node
    needed = [str(c) for mark in node.iter_markers("needs") for c in mark.args]
    if (node.get_closest_marker("disruptive") or node.get_closest_marker("chaos")) and "kube" in request.fixturenames:
        needed.append("node-changes")  # drains and node loss patch nodes: without the permission, skip naming it
    version = node.get_closest_marker("min_version")
    if not needed and version is None:
        return
    info: ClusterInfo = request.getfixturevalue("cluster_info")
    reason = capabilities.missing(info, needed, str(version.args[0]) if version else None)
    if reason:
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _ordinal_node_lock(request: pytest.FixtureRequest, _ordinal_needs: None) -> Iterator[None]:
    """With xdist workers: the node locks this test's markers call for, before its namespace exists.

    Taken after the capability skip (a skipped test waits for no lock) and after discovery
    (which takes a lock of its own); released after every other fixture is torn down.
    """
    state = session_of(request.config)
    access = access_of(request.node, uses_cluster="kube" in request.fixturenames)
    if state.locks is None or access == "none":
        yield
        return
    if "cluster_info" in request.fixturenames:
        request.getfixturevalue("cluster_info")
    with state.locks.hold(access):
        yield


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
    """Watches over the test's namespace (and PVs, nodes) feeding one timeline, started before the test acts.

    Where the identity may watch VolumeAttachments, the namespace's ones are recorded too.
    """
    state = session_of(request.config)
    info: ClusterInfo = request.getfixturevalue("cluster_info")
    kinds = (*NAMESPACED, *CLUSTER_WIDE, *(ATTACHMENTS if info.volume_attachments else ()))
    rec = Recorder(state.recorder_kube(), namespace, kinds=kinds).start(timeout=state.timeouts.pod)
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
        timeouts=Timeouts(settings.timeout_scale, settings.replicas),
        simulated_nodes=frozenset(cluster_info.simulated_nodes),
        exec_node_selector=cluster_info.exec_node_selector,
        idle_node_selector=cluster_info.idle_node_selector,
        labels=run_labels(run_id),
        run_as_user=settings.run_as_user,
        cluster_domain=cluster_info.cluster_domain,
        pod_index_label=cluster_info.pod_index_label,
    )


@pytest.fixture
def dns_resolver(request: pytest.FixtureRequest, cluster_info: ClusterInfo) -> Resolver:
    """A resolver for the cluster DNS chosen by --dns (skips naming the capability if there is none)."""
    return session_of(request.config).resolver()


@pytest.fixture
def node_commands(request: pytest.FixtureRequest) -> NodeCommands:
    """How this run stops and starts a real node (``--node-stop-command``, ``--node-start-command``)."""
    return session_of(request.config).node_commands


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.node, session_of(request.config).figures)
