"""The safety control every ordinal experiment enables: refuse, confine, fail loudly, clean up, report.

What it guarantees, and where chaoslib would not by itself:

- **Which cluster.** Before anything runs, the target (ordinal's own resolution: explicit
  kubeconfig/context from configuration or secrets, ``ORDINAL_KUBECONFIG``, ``KUBECONFIG``,
  else the local cluster; never ``~/.kube/config`` on its own) must be the local cluster or
  a context matching ``ORDINAL_ALLOW_CONTEXTS`` (comma-separated ``fnmatch`` patterns).
  chaostoolkit-kubernetes activities are pinned to the same kubeconfig and context.
- **Where.** An action whose function has an ``ns`` parameter must act on the experiment's
  ``namespace``; an action without one must be one of ordinal's run-scoped node actions
  (:data:`ordinal.chaos.node.actions.RUN_SCOPED`). Anything else is refused before it runs.
- **Failures fail.** chaoslib marks a failed method activity and carries on, then reports
  the run ``completed``; a steady state that does not hold *before* the method also ends
  ``completed`` with exit code 0. Here a failed method activity interrupts the run at once
  (rollbacks still play) and the journal's status becomes ``failed``, as it does for an
  unmet hypothesis before the method and for a failed rollback.
- **Rollbacks run.** Experiments declare ``"runtime": {"rollbacks": {"strategy": "always"}}``
  so rollbacks play after a failure or an interrupt (chaoslib's default skips them then);
  whatever this run still has in the node ledger afterwards is undone here, also when
  rollbacks did not play at all.
- **Report.** The journal gains an ``ordinal`` section (target, faults, figures, API
  requests by verb, which activity caught a deviation); the recorded timeline and a JUnit
  XML derived from the journal are written under ``reports_dir``.

chaoslib calls control functions with the provider's arguments plus whatever of
``configuration``, ``secrets``, ``state``, ``experiment`` they name, and swallows any
exception except ``InterruptExecution``; so every hook here catches its own errors, logs
them at warning level and records them in the journal rather than losing them.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import logging
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from chaoslib import substitute
from chaoslib.exceptions import InterruptExecution

from ordinal.chaos import ACTIVITY_MODULES
from ordinal.chaos.boundary import first_line
from ordinal.chaos.junit import missing_capability
from ordinal.chaos.results import NOT_CHECKED
from ordinal.chaos.session import Session, current, open_session
from ordinal.errors import OrdinalError
from ordinal.kube.client import set_library_default
from ordinal.kube.rest import ApiError
from ordinal.target import check_allowed
from ordinal.types import Obj

log = logging.getLogger("chaostoolkit")
F = TypeVar("F", bound=Callable[..., Any])

#: Journal statuses chaoslib may end with; ours only ever moves a run to "failed".
FAILED = "failed"
_WRAPPED = "chaoslib.exceptions.ActivityFailed: "
_SIGNALLED = "chaoslib.exceptions.InterruptExecution: "


class _Run:
    """What the control learns during one run (kept apart from the activities' session)."""

    def __init__(self) -> None:
        self.problems: list[str] = []  # what went wrong, in order seen
        self.unchecked: list[str] = []  # those of the problems that are probes not checked (not broken promises)
        #: Method steps that could not run for a missing capability: {"phase", "probe", "reason"}.
        self.unchecked_steps: list[dict[str, str]] = []
        self.fatal = False  # a problem chaoslib would not count as a failure (see module docstring)
        self.caught_by: str | None = None
        self.interrupted_by_us = False
        self.control_errors: list[str] = []
        self.requests_before: Counter[str] = Counter()
        self.hypothesis_runs = 0
        self.signalled: str | None = None  # a SIGTERM arrived (see _remember_sigterm)

    def problem(self, where: str, text: str, *, fatal: bool = True, unchecked: bool = False) -> None:
        self.problems.append(f"{where}: {text}")
        if unchecked:
            self.unchecked.append(self.problems[-1])
        self.fatal = self.fatal or fatal
        if self.caught_by is None:
            self.caught_by = where


_run = _Run()


def _guarded(fn: F) -> F:
    """Log and record an unexpected error in a hook instead of letting chaoslib swallow it at debug level."""

    @functools.wraps(fn)
    def hook(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InterruptExecution:
            raise
        except Exception as err:
            text = f"{fn.__name__}: {type(err).__name__}: {first_line(err)}"
            log.warning("ordinal-safety: %s", text)
            _run.control_errors.append(text)
            return None

    return hook  # type: ignore[return-value]


def _interrupt(where: str, text: str, *, unchecked: bool = False) -> InterruptExecution:
    _run.problem(where, text, unchecked=unchecked)
    _run.interrupted_by_us = True
    log.error("ordinal-safety: %s: %s", where, text)
    return InterruptExecution(f"ordinal-safety: {where}: {text}")


def stop_before_fault(where: str, text: str) -> InterruptExecution:
    """For another control (the sample's audit gate): the run fails here, caught by ``where``, with ``text``."""
    return _interrupt(where, text)


# -- hooks -------------------------------------------------------------------------------------


def configure_control(experiment: Obj | None = None, **_: Any) -> None:
    """Open a fresh session for this run (chaoslib ignores errors here, so nothing here may fail)."""
    global _run
    _run = _Run()
    open_session(str((experiment or {}).get("title", "")))
    _remember_sigterm()


def _remember_sigterm() -> None:
    """Note a SIGTERM before chaoslib's handler raises InterruptExecution wherever the main thread is.

    That exception can land inside code that swallows exceptions (a logging handler, an
    event handler chaoslib guards with ``except Exception``) and the run would go on as if
    nothing happened; the hooks below raise it again at the next step. chaoslib puts its
    own handler back when the run ends.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):  # not under chaoslib's handler (e.g. a unit test): leave it alone
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        _run.signalled = "SIGTERM signal received"
        previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


def _check_signalled() -> None:
    if _run.signalled and current().phase not in ("rollback", "teardown"):
        raise InterruptExecution(_run.signalled)


def before_experiment_control(
    context: Obj,
    configuration: dict[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    **_: Any,
) -> None:
    """Refuse a cluster that is not allowed; pin chaostoolkit-kubernetes to the same one."""
    session = current()
    try:
        target = session.target(configuration, secrets)
        context_name = check_allowed(target)
        kube = session.kube(configuration, secrets)
        kube.raw_get("/version", timeout=10.0)
    except (OrdinalError, ApiError) as err:
        raise _interrupt("control ordinal-safety", first_line(err)) from err
    if target.kubeconfig is not None:
        pin_chaostoolkit_kubernetes(target.kubeconfig, target.context)
    strategy = ((context.get("runtime") or {}).get("rollbacks") or {}).get("strategy")
    if strategy != "always":
        log.warning(
            "ordinal-safety: the experiment does not declare runtime.rollbacks.strategy=always; "
            "rollbacks will not play after a failure (the control still undoes node changes)"
        )
    session.phase = "setup"
    log.info("ordinal-safety: target %s (%s), run %s", context_name, target.source, session.run_id)


def before_hypothesis_control(context: Obj, **_: Any) -> None:
    session = current()
    _run.hypothesis_runs += 1
    session.phase = "hypothesis-before" if session.phase in ("setup", "standalone") else "hypothesis-after"


def before_method_control(context: Obj, **_: Any) -> None:
    current().phase = "method"
    _check_signalled()


def before_rollback_control(context: Obj, **_: Any) -> None:
    current().phase = "rollback"


def before_activity_control(
    context: Obj,
    configuration: dict[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    **_: Any,
) -> None:
    """Refuse an action outside the experiment's namespace; note the API request count."""
    _check_signalled()
    _run.requests_before = current().activity_requests()
    if context.get("type") != "action":
        return
    refusal = refuse(context, configuration or {}, secrets or {})
    if refusal:
        raise _interrupt(f"refused action {context.get('name')!r}", refusal)


def after_activity_control(context: Obj, state: dict[str, Any] | None = None, **_: Any) -> None:
    """Add the activity's API requests to its journal entry; a failed method activity stops the run."""
    session = current()
    if not isinstance(state, dict):
        return
    delta = session.activity_requests() - _run.requests_before
    state["ordinal"] = {"phase": session.phase, "api_requests": dict(delta)}
    _check_signalled()
    if state.get("status") != "failed":
        return
    reason = _exception_line(state)
    where = f"{session.phase} {context.get('type', 'activity')} {context.get('name')!r}"
    if reason.startswith(_SIGNALLED):
        # SIGTERM arrived inside the activity (chaoslib wrapped its InterruptExecution): not our
        # verdict, the run stays "interrupted"; stop now so the rollbacks play.
        raise InterruptExecution(reason.removeprefix(_SIGNALLED))
    if session.phase == "method":
        needs = missing_capability(state)
        if needs:  # the cluster lacks what the step needs: the run stops, not checked, never held
            _run.unchecked_steps.append({"phase": "method", "probe": str(context.get("name")), "reason": needs})
            raise _interrupt(where, f"not checked: {needs}", unchecked=True)
        raise _interrupt(where, reason)
    if session.phase == "rollback":
        _run.problem(where, reason)


@_guarded
def after_experiment_control(
    context: Obj,
    state: dict[str, Any] | None = None,
    reports_dir: str = "reports",
    report_name: str = "",
    **_: Any,
) -> None:
    """Settle the verdict, undo leftovers, and write the ``ordinal`` journal section, timeline and JUnit."""
    session = current()
    session.phase = "teardown"
    session.stop_recorders()
    leftovers = session.restore_nodes()
    if not isinstance(state, dict):
        return
    journal = state
    _judge(journal)
    for text in leftovers:
        _run.problem("cleanup", f"could not restore {text}")
    name = report_name or _slug(str(context.get("title", "experiment")))
    out = Path(reports_dir or "reports")
    timeline_path = _write_timelines(session, out, name)
    if _run.fatal and journal.get("status") in ("completed", None):
        journal["status"] = FAILED
    if _run.interrupted_by_us and journal.get("status") == "interrupted":
        journal["status"] = FAILED
    journal["ordinal"] = {
        **(journal.get("ordinal") or {}),
        **summary(session, journal),
        "verdict": verdict_of(journal, _run.problems, _run.unchecked, _run.control_errors),
        "not_checked": not_checked(journal) + _run.unchecked_steps,
        "caught_by": _run.caught_by,
        "problems": list(_run.problems),
        "control_errors": list(_run.control_errors),
        "timeline": str(timeline_path) if timeline_path else None,
    }
    from ordinal.chaos.junit import write_junit

    junit = out / f"junit-chaos-{name}.xml"
    write_junit(journal, junit, name=name)
    journal["ordinal"]["junit"] = str(junit)


def cleanup_control() -> None:
    """Whatever happened, stop the recorders and undo this run's node changes (chaoslib always calls this).

    The session's clients stay open: the sample control's cleanup runs after this one and
    may still need them; the process ends right after.
    """
    session = current()
    session.stop_recorders()
    for text in session.restore_nodes():
        log.warning("ordinal-safety: cleanup could not restore %s", text)


def pin_chaostoolkit_kubernetes(kubeconfig: str, context: str | None) -> None:
    """Make chaostoolkit-kubernetes activities talk to ordinal's target, not to ``~/.kube/config``.

    chaosk8s checks ``KUBECONFIG`` at call time but then loads the kubernetes client's
    default location, which that library read from ``KUBECONFIG`` once, at import **(code)**;
    without this, a run against the auto-detected local cluster would send chaosk8s's calls
    to whatever ``~/.kube/config`` names.
    """
    os.environ["KUBECONFIG"] = kubeconfig
    set_library_default(kubeconfig)
    if context:
        os.environ["KUBERNETES_CONTEXT"] = context


# -- the namespace guard -----------------------------------------------------------------------


def refuse(activity: Obj, configuration: Mapping[str, Any], secrets: Mapping[str, Any]) -> str | None:
    """Why ``activity`` (an action) may not run here, or None. Reads its arguments as they will be bound."""
    provider = activity.get("provider") or {}
    if provider.get("type") != "python":
        return f"only Python actions can be confined to a namespace, got provider {provider.get('type')!r}"
    target = str(configuration.get("namespace") or "")
    module, func_name = str(provider.get("module", "")), str(provider.get("func", ""))
    try:
        func = getattr(importlib.import_module(module), func_name)
    except (ImportError, AttributeError) as err:
        return f"cannot load {module}.{func_name}: {err}"
    params = inspect.signature(func).parameters
    arguments = substitute(dict(provider.get("arguments") or {}), dict(configuration), dict(secrets))
    if "ns" in params:
        ns = arguments.get("ns", params["ns"].default)
        if not target:
            return f"expected a target namespace (configuration 'namespace') before an action in namespace {ns!r}"
        if ns != target:
            return f"expected namespace {target!r}, the experiment's target; the action names {ns!r}"
        return None
    if module in ACTIVITY_MODULES and func_name in _run_scoped(module):
        return None
    return f"{module}.{func_name} takes no namespace and is not one of ordinal's run-scoped node actions"


def _run_scoped(module: str) -> frozenset[str]:
    return frozenset(getattr(importlib.import_module(module), "RUN_SCOPED", frozenset()))


# -- verdict and report ------------------------------------------------------------------------


def _judge(journal: dict[str, Any]) -> None:
    """Find what made the run fail or deviate; record it. chaoslib leaves several of these 'completed'."""
    states = journal.get("steady_states") or {}
    for phase in ("before", "after"):
        hypothesis = states.get(phase) or {}
        if hypothesis.get("steady_state_met") is False:
            probe = next(
                (p for p in hypothesis.get("probes", []) if not p.get("tolerance_met", True)),
                (hypothesis.get("probes") or [{}])[-1],
            )
            name = (probe.get("activity") or {}).get("name")
            output = probe.get("output")
            reason = output.get("summary") if isinstance(output, dict) else _exception_line(probe)
            unchecked = isinstance(output, dict) and output.get("status") == NOT_CHECKED
            # After the method chaoslib already reports the deviation (and exits non-zero);
            # before it, it would call the run "completed" with exit code 0.
            text = f"not checked: {reason}" if unchecked else str(reason)
            _run.problem(f"hypothesis-{phase} probe {name!r}", text, fatal=phase == "before", unchecked=unchecked)


def not_checked(journal: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every hypothesis probe that answered *not checked*: phase, probe, reason (the capability it needs)."""
    found = []
    for phase in ("before", "after"):
        for probe in ((journal.get("steady_states") or {}).get(phase) or {}).get("probes") or []:
            output = probe.get("output")
            if isinstance(output, dict) and output.get("status") == NOT_CHECKED:
                name = str((probe.get("activity") or {}).get("name"))
                found.append({"phase": phase, "probe": name, "reason": str(output.get("summary") or "")})
    return found


def verdict_of(journal: Mapping[str, Any], problems: list[str], unchecked: list[str], errors: list[str]) -> str:
    """``held``, ``not-checked`` (nothing broke, but a probe could not run), else the status (``deviated``…).

    A run is ``held`` only when every probe ran and passed; one whose only problems are probes
    not checked is ``not-checked``, never ``held``.
    """
    status, deviated = journal.get("status"), bool(journal.get("deviated"))
    others = [p for p in problems if p not in unchecked]
    if not others and not errors and status in ("completed", FAILED) and (unchecked or not_checked(journal)):
        return "not-checked"
    if status == "completed" and not deviated and not problems:
        return "held"
    return "deviated" if deviated else str(status)


def summary(session: Session, journal: Mapping[str, Any]) -> dict[str, Any]:
    requests = session.requests()
    return {
        "run_id": session.run_id,
        "targets": [
            {"kubeconfig": t.kubeconfig, "context": t.context, "source": t.source, "local": t.local}
            for t in session.targets()
        ],
        "namespace": session.namespace or None,
        "faults": [f.to_json() for f in session.faults],
        "api_calls": [vars(c) for c in sorted(set(session.api_calls()))],
        "figures": {
            "wall_seconds": round(float(journal.get("duration") or 0.0), 3),
            "restoration": list(session.figures),
            "api_requests": {
                **requests,
                "total": sum(requests["activities"].values()) + sum(requests["recorders"].values()),
            },
        },
    }


def _write_timelines(session: Session, out: Path, name: str) -> Path | None:
    if not session.recorders:
        return None
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"timeline-chaos-{name}.json"
    data = {ns: rec.timeline.to_json() for ns, rec in session.recorders.items()}
    path.write_text(json.dumps(data, indent=1, default=str))
    return path


def _exception_line(run: Mapping[str, Any]) -> str:
    lines = run.get("exception") or []
    text = "".join(lines).strip().splitlines()
    last = text[-1] if text else "failed"
    while last.startswith(_WRAPPED):  # chaoslib wraps our ActivityFailed in another one
        last = last.removeprefix(_WRAPPED)
    return last


def _slug(text: str) -> str:
    keep = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(p for p in keep.split("-") if p)[:60] or "experiment"
