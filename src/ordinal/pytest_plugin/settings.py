"""The plugin's options: one table, each option a flag, an ini key and an environment variable.

Precedence: an ``ordinal(...)`` marker on the test → command line → environment → ini file →
default; a bad value fails the run naming where it came from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from ordinal import capabilities
from ordinal.act.nodes import parse_node_command
from ordinal.errors import InvalidScenario
from ordinal.kube.manifests import DEFAULT_IMAGE, DEFAULT_UID, PLATFORM_UID, parse_run_as_user

# -- options ----------------------------------------------------------------------------------


def _text(value: str) -> str:
    if not value.strip() or any(c.isspace() for c in value.strip()):
        raise ValueError("expected a non-empty value without spaces")
    return value.strip()


def _class_name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", value.strip()) or len(value.strip()) > 253:
        raise ValueError("expected a StorageClass name (DNS subdomain: a-z, 0-9, '-', '.')")
    return value.strip()


def _replicas(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 2:
        raise ValueError("expected an integer >= 2 (ordering needs at least two pods)")
    return number


def _prefix(value: str) -> str:
    if not re.fullmatch(r"[a-z]([-a-z0-9]{0,18}[a-z0-9])?", value.strip()):
        raise ValueError("expected a DNS label of at most 20 characters starting with a letter")
    return value.strip()


def _run_as(value: str) -> int | None:
    try:
        return parse_run_as_user(value)
    except InvalidScenario:
        raise ValueError(f"expected a non-root UID (1..2147483647) or {PLATFORM_UID}") from None


def _domain(value: str) -> str:
    name = value.strip().rstrip(".").lower()
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name) or len(name) > 253:
        raise ValueError("expected a DNS domain such as cluster.local")
    return name


def _scale(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0 or number != number or number == float("inf"):
        raise ValueError("expected a number > 0")
    return number


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE or word == "":
        return True
    if word in _FALSE:
        return False
    raise ValueError("expected yes or no")


def _tristate(value: str) -> bool | None:
    """``auto`` (decide from the target), yes or no."""
    if value.strip().lower() == "auto":
        return None
    try:
        return _flag(value)
    except ValueError:
        raise ValueError("expected yes, no or auto") from None


def _dns(value: str) -> str:
    try:
        capabilities.parse_dns_mode(value)
    except InvalidScenario as err:
        raise ValueError(str(err)) from None
    return value.strip()


def _node_command(value: str) -> str:
    try:
        return parse_node_command(value)
    except InvalidScenario as err:
        raise ValueError(str(err)) from None


@dataclass(frozen=True)
class Option:
    """One setting: its flag, ini key and env var all derive from ``name``."""

    name: str
    help: str
    parse: Callable[[str], Any]
    default: Any
    metavar: str = "VALUE"
    #: "value" takes an argument; "flag" may stand alone (``--keep-namespace-on-failure``).
    kind: str = "value"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return f"ordinal_{self.name}"

    @property
    def env(self) -> str:
        return f"ORDINAL_{self.name.upper()}"


OPTIONS: tuple[Option, ...] = (
    Option(
        "kubeconfig",
        "kubeconfig of the cluster under test (else KUBECONFIG, else the running local cluster; "
        "never ~/.kube/config on its own)",
        _text,
        None,
        "PATH",
    ),
    Option("context", "context in the kubeconfig (default: its current context)", _text, None, "NAME"),
    Option(
        "storage_class",
        "StorageClass for the per-pod volumes (default: the cluster's default class)",
        _class_name,
        None,
        "NAME",
    ),
    Option(
        "image",
        f"image of the pods under test, for air-gapped registries (default {DEFAULT_IMAGE})",
        _text,
        DEFAULT_IMAGE,
        "IMAGE",
    ),
    Option("replicas", "replicas of the sets under test (default 3)", _replicas, 3, "N"),
    Option(
        "namespace_prefix",
        "prefix of the per-test namespaces (default ord)",
        _prefix,
        "ord",
        "PREFIX",
    ),
    Option(
        "keep_namespace_on_failure",
        "leave a failed test's namespace in place for debugging (remove later with `ordinal cleanup`)",
        _flag,
        False,
        "yes|no",
        "flag",
    ),
    Option(
        "timeout_scale",
        "multiply every deadline by this factor, for slow clusters (default 1)",
        _scale,
        1.0,
        "FACTOR",
    ),
    Option(
        "dns",
        "how to reach the cluster DNS: auto, direct:<ip>:<port>, port-forward (TCP to the DNS pod) "
        "or exec (dig/nslookup inside a pod) (default auto)",
        _dns,
        "auto",
        "MODE",
    ),
    Option(
        "cluster_domain",
        "the cluster's DNS domain (default: discovered from the cluster DNS, else from a pod's search path)",
        _domain,
        None,
        "DOMAIN",
    ),
    Option(
        "run_as_user",
        f"non-root UID the suite's pods run as (also their group and fsGroup), or {PLATFORM_UID} when the "
        f"cluster assigns UIDs itself, as OpenShift's restricted SCC does (default {DEFAULT_UID})",
        _run_as,
        DEFAULT_UID,
        "UID|platform",
    ),
    Option(
        "allow_disruptive",
        "allow tests that drain and cordon nodes: yes, no or auto (default auto: only on the local cluster)",
        _tristate,
        None,
        "yes|no|auto",
        "flag",
    ),
    Option(
        "node_stop_command",
        "command that stops a real node, {node} standing for its name, e.g. 'ssh {node} sudo systemctl stop "
        "kubelet containerd' (run without a shell; `ordinal cluster env` sets it for the local cluster). With "
        "--node-start-command it lets the suite lose a real node (capability node-stop)",
        _node_command,
        None,
        "COMMAND",
    ),
    Option(
        "node_start_command",
        "command that starts again a node --node-stop-command stopped, {node} standing for its name; also what "
        "the session-end sweep and `ordinal cleanup` run for a node a run left stopped",
        _node_command,
        None,
        "COMMAND",
    ),
)
_BY_NAME = {opt.name: opt for opt in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """The resolved options, and where each value came from (for the header and error messages)."""

    kubeconfig: str | None = None
    context: str | None = None
    storage_class: str | None = None
    image: str = DEFAULT_IMAGE
    replicas: int = 3
    namespace_prefix: str = "ord"
    keep_namespace_on_failure: bool = False
    timeout_scale: float = 1.0
    dns: str = "auto"
    cluster_domain: str | None = None
    run_as_user: int | None = DEFAULT_UID
    allow_disruptive: bool | None = None
    node_stop_command: str | None = None
    node_start_command: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)


class SettingError(Exception):
    """A bad option value: the message names the key and its source."""


def _parse(opt: Option, raw: object, key: str, source: str) -> Any:
    try:
        return opt.parse(str(raw))
    except ValueError as err:
        raise SettingError(f"invalid {key} '{raw}' from {source}: {err}") from None


def read_settings(
    cli: Mapping[str, object],
    env: Mapping[str, str],
    ini: Mapping[str, str],
    marker: Mapping[str, object] | None = None,
    marker_source: str = "marker",
) -> Settings:
    """Apply the precedence marker → CLI → env → ini → default to every option.

    ``cli`` holds the parsed flags (None when not given), ``ini`` the raw ini strings ("" when
    not set). Raises SettingError naming the key and source of the first bad value.
    """
    unknown = sorted(set(marker or {}) - set(_BY_NAME))
    if unknown:
        raise SettingError(
            f"invalid {marker_source}: unknown option {unknown[0]!r}, expected one of {sorted(_BY_NAME)}"
        )
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        layers: list[tuple[object, str, str]] = [
            ((marker or {}).get(opt.name), f"ordinal({opt.name}=…)", marker_source),
            (cli.get(opt.name), opt.flag, "command line"),
            (env.get(opt.env), opt.env, "environment"),
            (ini.get(opt.ini) or None, opt.ini, "ini file"),
        ]
        for raw, key, source in layers:
            if raw is not None:
                values[opt.name] = _parse(opt, raw, key, source)
                sources[opt.name] = source
                break
        else:
            values[opt.name] = opt.default
            sources[opt.name] = "default"
    return Settings(**values, sources=sources)


def settings_of(config: pytest.Config, marker: Mapping[str, object] | None = None, where: str = "") -> Settings:
    cli = {opt.name: config.getoption(f"ordinal_{opt.name}") for opt in OPTIONS}
    ini = {opt.ini: str(config.getini(opt.ini) or "") for opt in OPTIONS}
    return read_settings(cli, os.environ, ini, marker, f"marker on {where}" if where else "marker")
