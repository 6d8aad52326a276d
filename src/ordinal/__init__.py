"""ordinal: chaos and conformance tests for Kubernetes StatefulSets.

The package doubles as a Chaos Toolkit extension: ``chaos discover ordinal`` calls
:func:`discover`, which lists the activities in :mod:`ordinal.chaos`.
"""

from __future__ import annotations

from typing import Any

from ordinal.version import __version__

__all__ = ["__version__", "discover"]


def discover(discover_system: bool = True) -> dict[str, Any]:
    """Describe ordinal's Chaos Toolkit activities (imported lazily: chaoslib is optional at import)."""
    from ordinal.chaos import discover as _discover

    return _discover(discover_system)
