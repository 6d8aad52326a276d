"""Artefacts a run writes as it goes: a side channel reached only from the pytest plugin's hooks and
fixtures (and the ``step`` helper tests use). Nothing here decides whether a promise holds."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from ordinal.artefacts import allure as _allure

log = logging.getLogger("ordinal.step")


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """One phase of a test: an allure step and the same line in the log, so both tell the story."""
    log.info("step: %s", title)
    with _allure.step(title):
        yield
