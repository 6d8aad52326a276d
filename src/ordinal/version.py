"""The suite's version: ground floor, so any layer can say which ordinal produced a result."""

from __future__ import annotations

__version__ = "0.1.0"
