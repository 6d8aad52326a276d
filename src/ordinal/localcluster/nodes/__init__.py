"""Node kinds. Each module offers ``start(ctx, names)`` and ``teardown(ctx)``; adding a kind
(say, a real kubelet + containerd node) means adding a module here, not changing the launcher."""

from __future__ import annotations

from typing import Protocol

from ordinal.localcluster.context import Context
from ordinal.localcluster.process import ProcessRecord


def zone_name(index: int, zones: int) -> str:
    """Zones are spread round-robin: node 0 → zone-a, node 1 → zone-b, …"""
    return f"zone-{chr(ord('a') + index % zones)}"


class NodeKind(Protocol):
    name: str

    def start(self, ctx: Context, names: list[str]) -> list[ProcessRecord]: ...

    def teardown(self, ctx: Context) -> list[str]:
        """Remove host-level leftovers (mounts, namespaces, chains); return errors, never raise."""
        ...
