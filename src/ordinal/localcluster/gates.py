"""Readiness gates: each component is "up" only when its own health endpoint says so.

Health endpoints have no watch API, so a gate polls with a short interval under one
deadline and fails early, with the log's last line, when the process has died.
"""

from __future__ import annotations

import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ordinal.errors import ClusterError
from ordinal.localcluster.process import ProcessRecord, exited, log_tail


def http_check(
    url: str,
    *,
    ca: Path | None = None,
    cert: tuple[Path, Path] | None = None,
    insecure: bool = False,
    body: str | None = None,
) -> Callable[[], str | None]:
    """A check returning None when ``url`` answers 200 (and contains ``body``), else what it saw."""
    context: ssl.SSLContext | None = None
    if url.startswith("https"):
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if cert:
            context.load_cert_chain(str(cert[0]), str(cert[1]))

    def check() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                text = resp.read().decode(errors="replace")
                if resp.status == 200 and (body is None or body in text):
                    return None
                return f"HTTP {resp.status} {text[:80]!r}"
        except urllib.error.HTTPError as err:
            return f"HTTP {err.code}"
        except (OSError, urllib.error.URLError) as err:
            return str(getattr(err, "reason", err))

    return check


def command_check(argv: list[str]) -> Callable[[], str | None]:
    """A check returning None when ``argv`` exits 0, else the end of what it printed."""

    def check() -> str | None:
        proc = subprocess.run(argv, capture_output=True, text=True)
        return None if proc.returncode == 0 else (proc.stderr.strip() or f"exit {proc.returncode}")[-160:]

    return check


def wait_gate(
    what: str, check: Callable[[], str | None], *, timeout: float, record: ProcessRecord | None = None
) -> float:
    """Wait until ``check`` passes; return seconds taken. Raise naming the gate and the last answer."""
    start = time.monotonic()
    last: str | None = "not checked"
    while time.monotonic() - start < timeout:
        last = check()
        if last is None:
            return time.monotonic() - start
        if record is not None and exited(record):
            raise ClusterError(
                f"expected {what}, but {record.name} exited: {log_tail(record) or 'no output'} (log {record.log})"
            )
        time.sleep(0.2)
    raise ClusterError(f"expected {what} within {timeout:.0f}s, last saw: {last}")
