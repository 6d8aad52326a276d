"""Where the folders ordinal carries are: ``cluster/``, ``experiments/`` and ``conformance/``.

In a checkout (an editable install, ``make run``) they are the checkout's own folders, so an
edit takes effect at once. An installed wheel carries them as package data (pyproject.toml, [tool.setuptools]):
``ordinal/_cluster``, ``ordinal/_experiments`` and ``ordinal/conformance`` in site-packages.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

Folder = Literal["cluster", "experiments", "conformance"]
#: The package each folder is installed as (pyproject.toml's package-dir).
PACKAGES: dict[Folder, str] = {
    "cluster": "ordinal._cluster",
    "experiments": "ordinal._experiments",
    "conformance": "ordinal.conformance",
}
#: The checkout this module sits in, if it does: src/ordinal/resources.py → the checkout root.
CHECKOUT = Path(__file__).resolve().parents[2]


def folder(name: Folder) -> Path | None:
    """The folder in this checkout, else the installed package data; None if neither is there."""
    mine = CHECKOUT / name
    if (CHECKOUT / "pyproject.toml").is_file() and mine.is_dir():
        return mine
    try:
        spec = importlib.util.find_spec(PACKAGES[name])
    except ImportError:
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    found = next((Path(p) for p in locations if Path(p).is_dir()), None)
    return found


def installed() -> bool:
    """True when ordinal runs from an installed wheel rather than a checkout."""
    return not (CHECKOUT / "pyproject.toml").is_file()
