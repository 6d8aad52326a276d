"""The activity envelope: what every ordinal Chaos Toolkit activity shares, written once.

:func:`activity` wraps each activity. Before the body runs it binds the call to the run's
session and, for activities that take a ``configuration``, to the target's client (which
refuses a context that is not allowed); it turns string
``--var`` values into the annotated ``int``/``float``/``bool``, and starts the clock; the body
reaches all of that through :func:`call`. The :class:`Call` builds the result envelopes
(:class:`~ordinal.chaos.results.Touched`, ``Waited``, ``ProbeVerdict``), so an activity is its
own few lines. At the edge, ordinal's errors become Chaos Toolkit's ``ActivityFailed``; a probe
asked about a StatefulSet that does not exist answers with a failed verdict naming it.

The wrapper keeps the function's signature (``functools.wraps`` sets ``__wrapped__``), which
is what chaoslib's discovery and validation read.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from chaoslib.exceptions import ActivityFailed

from ordinal.chaos.results import ProbeVerdict, Touched, Waited, not_checked, verdict
from ordinal.chaos.session import Session, current
from ordinal.errors import InvalidScenario, OrdinalError
from ordinal.kube.rest import ApiError, Kube
from ordinal.observe.dnsquery import Resolver
from ordinal.observe.recorder import Recorder
from ordinal.observe.snapshot import SetState, observe_set
from ordinal.types import Finding

P = ParamSpec("P")
R = TypeVar("R")

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


def first_line(err: BaseException) -> str:
    """The line journals keep: ordinal errors put target, expected and seen there."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def set_subject(namespace: str, name: str) -> str:
    return f"statefulset {namespace}/{name}"


class MissingSet(OrdinalError):
    """A probe was asked about a StatefulSet that does not exist: its verdict says so."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(namespace, name)
        self.namespace, self.name = namespace, name

    def __str__(self) -> str:
        return f"expected StatefulSet {self.namespace}/{self.name}, found none"

    def finding(self) -> Finding:
        subject = set_subject(self.namespace, self.name)
        return Finding("chaos.statefulset-ready", subject, "metadata.name", self.name, "no such StatefulSet")


@dataclass
class Call:
    """One activity call: the run's session, the target's client, the clock, and the result envelopes."""

    name: str
    session: Session
    configuration: Mapping[str, Any] | None
    secrets: Mapping[str, Any] | None
    started: float = field(default_factory=time.monotonic)

    @functools.cached_property
    def kube(self) -> Kube:
        """The session's client for the target (refused unless the local cluster or an allowed context)."""
        return self.session.kube(self.configuration, self.secrets)

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def set_state(self, namespace: str, name: str) -> SetState:
        """The set and what hangs off it; a missing set ends a probe with a verdict naming it."""
        state = observe_set(self.kube, namespace, name)
        if state.sts is None:
            raise MissingSet(namespace, name)
        return state

    def recorder(self, namespace: str) -> Recorder | None:
        return self.session.recorder(namespace)

    def resolver(self, dns_server: str = "") -> Resolver | None:
        return self.session.resolver(self.configuration, dns_server, self.secrets)

    def cluster_domain(self, zone: str = "") -> tuple[str, str]:
        return self.session.cluster_domain(self.configuration, self.secrets, zone)

    def no_baseline(self, namespace: str, name: str) -> list[Finding]:
        """After the method, a missing snapshot is itself a finding; before it there is nothing to compare."""
        if not self.session.comparing():
            return []
        return [
            Finding(
                "chaos.baseline",
                set_subject(namespace, name),
                "baseline",
                "a snapshot_identity action before the fault",
                "none taken in this run",
            )
        ]

    # -- envelopes ------------------------------------------------------------------------------

    def touched(self, namespace: str, targets: Iterable[dict[str, Any]] = (), **details: Any) -> Touched:
        return Touched(action=self.name, namespace=namespace, targets=list(targets), details=details)

    def waited(self, subject: str, **details: Any) -> Waited:
        return Waited(probe=self.name, subject=subject, seconds=self.seconds(), details=details)

    def verdict(
        self,
        subject: str,
        findings: Iterable[Finding],
        *,
        held: str,
        details: dict[str, Any] | None = None,
        timeline_of: str = "",
    ) -> ProbeVerdict:
        """Judged: ``held`` is the summary when nothing blocking was found; ``timeline_of`` a namespace to excerpt."""
        recorder = self.recorder(timeline_of) if timeline_of else None
        timeline = recorder.timeline if recorder is not None else None
        return verdict(self.name, subject, findings, held=held, details=details, timeline=timeline)

    def not_checked(self, subject: str, reason: str, details: dict[str, Any] | None = None) -> ProbeVerdict:
        return not_checked(self.name, subject, reason, details)


_call: contextvars.ContextVar[Call] = contextvars.ContextVar("ordinal_activity_call")


def call() -> Call:
    """The activity call in progress (only inside a function wrapped by :func:`activity`)."""
    return _call.get()


def activity(fn: Callable[P, R]) -> Callable[P, R]:
    """Mark a Chaos Toolkit activity: coerce string arguments, bind the call, translate ordinal errors at the edge."""
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn)  # resolves postponed (string) annotations too
    is_probe = hints.get("return") is ProbeVerdict

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, value in bound.arguments.items():
                bound.arguments[name] = coerce(name, value, hints.get(name))
            this = Call(fn.__name__, current(), bound.arguments.get("configuration"), bound.arguments.get("secrets"))
            if "configuration" in signature.parameters:
                this.kube  # noqa: B018 -- bind to the target first: a context that is not allowed is refused here
            token = _call.set(this)
            try:
                return fn(*bound.args, **bound.kwargs)
            except MissingSet as missing:
                if not is_probe:
                    raise
                subject = set_subject(missing.namespace, missing.name)
                return typing.cast(R, verdict(fn.__name__, subject, [missing.finding()], held=""))
            finally:
                _call.reset(token)
        except (OrdinalError, ApiError) as err:
            raise ActivityFailed(f"{fn.__name__}: {first_line(err)}") from err

    return run


def coerce(name: str, value: Any, annotation: Any) -> Any:
    """``"3"`` → 3 for an ``int`` parameter (likewise float and bool); anything else unchanged."""
    if not isinstance(value, str) or annotation not in (int, float, bool):
        return value
    text = value.strip()
    try:
        if annotation is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        return annotation(text)
    except ValueError:
        raise InvalidScenario(f"expected argument {name} to be {annotation.__name__}, got {value!r}") from None
