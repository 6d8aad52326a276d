"""Judge against the request: what a test or experiment sent, never what the server says it was sent.

A check that reads the StatefulSet back and takes its expectations from there can be fooled: a
mutating admission webhook, a policy engine or a buggy aggregated API that rewrites the set makes
the suite expect whatever the server now holds. So the consumers keep what they sent (the
manifest they created, with every patch they sent applied to it: :func:`merge_patch`,
:func:`apply_json_patch`), and

- :func:`check_spec_as_sent` reports every spec field the server stored differently from what
  was sent (``api.spec-rewritten``: field, sent, stored), which the consumers report before
  anything else;
- :func:`as_requested` is the object the other checks judge: the server's object (names, UID,
  generation, status) carrying the spec that was asked for.

Fields the request left out are the server's to default, so only what was sent is compared (a
zero value sent may come back left out, as the API omits empty fields), with two exceptions where a
server adds nothing on its own: maps of user keys (labels, annotations,
nodeSelector, matchLabels) and lists of named items (containers, volumes, ports, env) must hold
exactly what was sent.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from typing import Any

from ordinal.errors import InvalidScenario
from ordinal.kube import objects as o
from ordinal.types import Finding, Obj

RULE = "api.spec-rewritten"
#: Maps whose keys are the user's: a key the server holds that was not sent was added by someone.
USER_MAPS = frozenset({"labels", "annotations", "nodeSelector", "matchLabels"})
#: How a field that was sent is shown when the server does not hold it (or the other way round).
ABSENT = "<absent>"

Difference = tuple[str, Any, Any]  # (path, sent, stored)


def merge_patch(target: Any, patch: Any, *, keep_nulls: bool = False) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, ``None`` removes a key, anything else replaces.

    Also what a strategic merge patch of ordinal's does to the fields it names (ordinal's patches
    send whole lists, so merging lists by key changes nothing that was sent). Returns a new value.
    ``keep_nulls`` keeps a removed key as ``None``: a request must remember that it asked for the
    field to go, so a server that keeps it is caught.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None and keep_nulls:
            merged[key] = None
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value, keep_nulls=keep_nulls)
    return merged


def apply_json_patch(target: Obj, operations: Sequence[Obj]) -> Obj:
    """RFC 6902 ``add``/``replace``/``remove`` on object paths (what ordinal's JSON patches use)."""
    result = copy.deepcopy(target)
    for op in operations:
        kind, path = op.get("op"), str(op.get("path", ""))
        keys = [k.replace("~1", "/").replace("~0", "~") for k in path.split("/")[1:]]
        if kind not in ("add", "replace", "remove") or not keys:
            raise InvalidScenario(f"expected a JSON patch of add/replace/remove on an object path, got {op!r}")
        parent = result
        for key in keys[:-1]:
            parent = parent.setdefault(key, {})
        if kind == "remove":
            parent.pop(keys[-1], None)
        else:
            parent[keys[-1]] = copy.deepcopy(op.get("value"))
    return result


def differences(sent: Any, stored: Any, path: str = "spec") -> list[Difference]:
    """Every place where ``stored`` does not hold what ``sent`` asked for, as (path, sent, stored)."""
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [(path, sent, _shown(stored))]
        found: list[Difference] = []
        for key, want in sent.items():
            where = _join(path, key)
            if want is None:  # sent as "remove this field"
                if stored.get(key) not in (None, {}, []):
                    found.append((where, ABSENT, stored[key]))
            elif key not in stored:
                if not _zero(want):  # a zero value is omitted from the server's JSON (omitempty)
                    found.append((where, want, ABSENT))
            else:
                found += differences(want, stored[key], where)
        if _last_key(path) in USER_MAPS:
            found += [(_join(path, k), ABSENT, v) for k, v in stored.items() if k not in sent]
        return found
    if isinstance(sent, list):
        if not isinstance(stored, list):
            return [(path, sent, _shown(stored))]
        if sent and all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in sent):
            return _named(sent, stored, path)
        if len(sent) != len(stored):
            return [(path, sent, stored)]
        return [
            d
            for index, (a, b) in enumerate(zip(sent, stored, strict=True))
            for d in differences(a, b, f"{path}[{index}]")
        ]
    return [] if _same(sent, stored) else [(path, sent, _shown(stored))]


def check_spec_as_sent(sent: Obj | None, stored: Obj | None, *, ignore: Collection[str] = ()) -> list[Finding]:
    """Every spec field the server stored differently from what was sent (``api.spec-rewritten``).

    ``sent`` is the manifest as created with every patch sent since applied to it; None (nothing
    was sent, e.g. an experiment against an existing workload) finds nothing. ``ignore`` names
    top-level spec fields others may legitimately change (``replicas``, when a third-party action
    scales the set).
    """
    if sent is None or stored is None:
        return []
    want = {k: v for k, v in o.spec(sent).items() if k not in ignore}
    subject = o.subject(stored, "StatefulSet")
    return [Finding(RULE, subject, path, was, now) for path, was, now in differences(want, o.spec(stored))]


def as_requested(sent: Obj | None, stored: Obj, *, ignore: Collection[str] = ()) -> Obj:
    """The server's object (metadata, status) with the spec that was asked for: what checks judge.

    Fields the request did not name keep the server's (defaulted) values; ``ignore`` names spec
    fields whose stored value counts (see :func:`check_spec_as_sent`).
    """
    if sent is None:
        return stored
    want = {k: v for k, v in o.spec(sent).items() if k not in ignore}
    view = dict(stored)
    view["spec"] = merge_patch(o.spec(stored), want)
    return view


def _named(sent: list[Obj], stored: list[Any], path: str) -> list[Difference]:
    """Lists of named items (containers, ports, env, volumes): matched by name; extra names were added."""
    held = {i.get("name"): i for i in stored if isinstance(i, dict)}
    found: list[Difference] = []
    for item in sent:
        where = f"{path}[name={item['name']}]"
        if item["name"] not in held:
            found.append((where, item, ABSENT))
        else:
            found += differences(item, held[item["name"]], where)
    names = {i["name"] for i in sent}
    found += [(f"{path}[name={n}]", ABSENT, i) for n, i in held.items() if n not in names]
    return found


def _zero(value: Any) -> bool:
    """0, "", false, [], {} (or an object of only those): what the API leaves out of its JSON."""
    if isinstance(value, dict):
        return all(_zero(v) for v in value.values())
    return value in (0, "", False, None) or value == []


def _same(sent: Any, stored: Any) -> bool:
    if isinstance(sent, bool) or isinstance(stored, bool):
        return sent is stored
    return bool(sent == stored)


def _shown(value: Any) -> Any:
    return ABSENT if value is None else value


def _join(path: str, key: str) -> str:
    if key.replace("-", "").replace("_", "").isalnum():
        return f"{path}.{key}"
    return f"{path}['{key}']"


def _last_key(path: str) -> str:
    return path.rsplit(".", 1)[-1]
