"""``ordinal report``: one artefact a person reads at a glance and a machine can check.

A consumer at the top of the layers, like the CLI: it runs the conformance suite (and the
chaos experiments) in child processes, then reads only what they wrote — ``results.jsonl``,
``figures.jsonl``, ``environment.json``, ``session.json``, chaos journals and timelines — and
turns that into ``report.json`` (validated against the shipped JSON Schema), a self-contained
``index.html`` and ``SHA256SUMS``. Nothing here judges a promise: verdicts are the tests'.

Modules: :mod:`.model` (artefacts → report data), :mod:`.schema`, :mod:`.charts` and
:mod:`.html` (rendering), :mod:`.sums` (checksums), :mod:`.compare` (two reports), :mod:`.run`
(the command).
"""

from __future__ import annotations

#: Version of report.json's shape; the schema file carries the same number.
REPORT_VERSION = 1
