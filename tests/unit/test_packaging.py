"""The wheel's package list is explicit (folders outside src/ are mapped into it): it MUST name every
package under src/ and every carried folder, and the carried folders MUST hold what the wheel ships."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages

from ordinal import resources

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_under_src_and_every_carried_folder_is_in_the_wheel() -> None:
    under_src = {p for p in find_namespace_packages("src", include=["ordinal*"]) if "egg-info" not in p}
    # report/schema holds JSON only: package data of `ordinal`, not a package.
    under_src.discard("ordinal.report.schema")
    declared, wanted = set(SETUPTOOLS["packages"]), under_src | set(resources.PACKAGES.values())
    assert declared == wanted, (
        f"expected pyproject.toml's packages to match src/ and the carried folders; "
        f"missing {sorted(wanted - declared)}, extra {sorted(declared - wanted)}"
    )


def test_the_carried_folders_map_to_the_checkout_folders_of_the_same_name() -> None:
    package_dir = SETUPTOOLS["package-dir"]
    assert package_dir[""] == "src"
    for folder, package in resources.PACKAGES.items():
        assert package_dir[package] == folder
        assert (ROOT / folder).is_dir()
        assert resources.folder(folder) == ROOT / folder


def test_the_wheel_carries_every_file_the_build_cache_key_covers() -> None:
    """A wheel missing a Go file would compute another cache key and rebuild (or fail to build)."""
    patterns = SETUPTOOLS["package-data"]["ordinal._cluster"]
    covered = {p for pattern in patterns for p in (ROOT / "cluster").glob(pattern)}
    keyed = {p for p in (ROOT / "cluster").rglob("*") if p.suffix == ".go" or p.name in ("go.mod", "go.sum")}
    assert keyed <= covered, f"expected package-data to carry {sorted(map(str, keyed - covered))}"
