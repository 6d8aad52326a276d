"""Chaos Toolkit extension: StatefulSet faults, and probes that judge the StatefulSet promises.

One package per target kind (``statefulset``, ``node``), each with ``actions`` and
``probes`` modules whose ``__all__`` is the contract. :data:`ACTIVITY_MODULES` is the only
list of them; whether a module holds actions or probes follows from its name, so a probe
module cannot be registered as actions by mistake. Controls: :mod:`ordinal.chaos.controls`
(safety, verdict, report) and :mod:`ordinal.chaos.sample` (the sample workload).
"""

from __future__ import annotations

from typing import Any

ACTIVITY_MODULES: tuple[str, ...] = (
    "ordinal.chaos.statefulset.actions",
    "ordinal.chaos.statefulset.probes",
    "ordinal.chaos.node.actions",
    "ordinal.chaos.node.probes",
)


def activity_type(module: str) -> str:
    """``action`` for ``….actions``, ``probe`` for ``….probes``."""
    last = module.rsplit(".", 1)[-1]
    if last not in ("actions", "probes"):
        raise ValueError(f"expected an activity module named actions or probes, got {module!r}")
    return last[:-1]


def discover(discover_system: bool = True) -> dict[str, Any]:
    """Describe ordinal's activities for ``chaos discover ordinal`` (chaoslib is imported only here)."""
    from chaoslib.discovery.discover import discover_activities, initialize_discovery_result

    from ordinal.version import __version__

    result: dict[str, Any] = initialize_discovery_result("ordinal", __version__, "kubernetes")
    for module in ACTIVITY_MODULES:
        result["activities"].extend(discover_activities(module, activity_type(module)))
    return result
