"""``SHA256SUMS`` over every file of a report, in the format ``sha256sum -c`` reads.

A customer checks the report was not edited with ``sha256sum -c SHA256SUMS`` in its
directory; ``ordinal report compare`` runs the same check, and also refuses files that were
added after the sums were written (``sha256sum -c`` alone would not notice those).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ordinal.errors import OrdinalError

SUMS_FILE = "SHA256SUMS"


class Tampered(OrdinalError):
    """A report whose files do not match its SHA256SUMS (edited, removed or added)."""


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def _files(directory: Path) -> list[str]:
    names = []
    for path in directory.rglob("*"):
        if path.is_file() and path.relative_to(directory).as_posix() != SUMS_FILE:
            name = path.relative_to(directory).as_posix()
            if "\n" in name or "\\" in name:
                raise OrdinalError(f"expected report file names without newlines or backslashes, found {name!r}")
            names.append(name)
    return sorted(names)


def write(directory: Path) -> Path:
    """Write ``SHA256SUMS`` (text mode, two spaces) over every other file, recursively, sorted."""
    lines = [f"{digest(directory / name)}  {name}\n" for name in _files(directory)]
    out = directory / SUMS_FILE
    out.write_text("".join(lines))
    return out


def verify(directory: Path) -> None:
    """Raise :class:`Tampered` naming what differs from ``SHA256SUMS`` (changed, missing, unlisted files)."""
    sums = directory / SUMS_FILE
    if not sums.is_file():
        raise Tampered(f"expected {sums} (the report's checksums), found none")
    listed: dict[str, str] = {}
    for number, line in enumerate(sums.read_text().splitlines(), 1):
        hexdigest, sep, name = line.partition("  ")
        if not sep:
            hexdigest, sep, name = line.partition(" *")
        if not sep or len(hexdigest) != 64:
            raise Tampered(f"expected '<sha256>  <file>' on line {number} of {sums}, found {line[:80]!r}")
        listed[name] = hexdigest
    present = set(_files(directory))
    changed = sorted(n for n in listed if n in present and digest(directory / n) != listed[n])
    missing = sorted(n for n in listed if n not in present)
    unlisted = sorted(present - set(listed))
    parts = [
        f"{label} {', '.join(names[:5])}" + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        for label, names in (("changed", changed), ("missing", missing), ("not listed", unlisted))
        if names
    ]
    if parts:
        raise Tampered(f"expected {directory} to match its {SUMS_FILE}, found files {'; '.join(parts)}")
