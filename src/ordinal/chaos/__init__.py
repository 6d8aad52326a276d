"""Chaos Toolkit activities for StatefulSets (filled in by the chaos-experiments work)."""

from __future__ import annotations

from typing import Any


def discover(discover_system: bool = True) -> dict[str, Any]:
    """Describe the extension for ``chaos discover ordinal``."""
    return {"extension": "ordinal", "activities": []}
