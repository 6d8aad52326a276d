"""One fake API server for the unit tests, standing in for :class:`ordinal.kube.rest.Kube`.

Above ``Kube`` everything works on the API's JSON objects as plain dicts, so that is where a test
swaps the cluster for memory. One fake here, not one per test module, means 404s, selectors, merge
patches and watches behave alike in every test and are checked once (test_fakes.py).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ordinal.kube.rest import PODS, ApiError, Resource, resource_for
from ordinal.types import Obj

Key = tuple[str, str, str]  # (kind, namespace or "" when cluster-scoped, name)
Event = tuple[str, Obj]
Batch = Sequence[Event] | Exception  # what one watch request delivers, or raises
FIELDS = {"metadata.name": ("metadata", "name"), "spec.nodeName": ("spec", "nodeName")}  # field selectors known


class FakeKube:
    """An in-memory object store behind ``Kube``'s verbs, with scripted watches and a fake clock.

    ``requests`` counts by HTTP verb as the real client does (lists and watches are GETs), ``calls``
    by method name. Each watch request delivers the next of ``batches`` into the store (or raises
    it) and moves :meth:`clock` on by ``watch_seconds``, so a waiter on ``kube.clock`` takes no time.
    ``revision`` is the store's resourceVersion: lists report it, writes advance it.
    """

    watch_seconds = 1.0  # fake time each watch request takes

    def __init__(self, *objects: Obj, batches: Iterable[Batch] = (), git_version: str = "v1.37.2", revision: int = 1):
        self.objects: dict[Key, Obj] = {}
        self.requests: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.deleted: list[tuple[str, str, dict[str, Any]]] = []  # (kind, name, the options given)
        self.watches: list[str] = []  # the resourceVersion each watch started from
        self.batches = list(batches)
        self.git_version, self.revision = git_version, revision
        self.now, self.closed = 0.0, False
        #: The answer to a review (SelfSubjectAccessReview → {"allowed": True}); tests may change it.
        self.reviews: dict[str, dict[str, Any]] = {"SelfSubjectAccessReview": {"allowed": True}}
        #: (verb, resource) pairs an access review refuses, whatever ``reviews`` says.
        self.denied: set[tuple[str, str]] = set()
        #: Other non-resource paths ``raw_get`` serves (API discovery), as their JSON text.
        self.paths: dict[str, str] = {}
        self.put(*objects)

    def put(self, *objects: Obj) -> None:
        """Store (or overwrite) objects as given; each needs ``kind`` and ``metadata.name``."""
        for obj in objects:
            self.objects[_key(obj["kind"], obj)] = copy.deepcopy(obj)

    def clock(self) -> float:
        return self.now

    def get(self, res: Resource, name: str, namespace: str | None = None) -> Obj:
        self._count("GET", "get")
        return _listed(res, self._find("GET", res, name, namespace))

    def get_or_none(self, res: Resource, name: str, namespace: str | None = None) -> Obj | None:
        self._count("GET", "get")
        found = self.objects.get(_at(res, name, namespace))
        return None if found is None else _listed(res, found)

    def list(
        self, res: Resource, namespace: str | None = None, *, label_selector: str = "", field_selector: str = ""
    ) -> tuple[list[Obj], str]:
        """Matching objects in etcd's order (namespace, then name) and the store's revision."""
        self._count("GET", "list")
        labels, fields = _terms(label_selector), [(FIELDS[k], v) for k, v in _terms(field_selector)]
        items = [
            _listed(res, obj)
            for (kind, ns, _), obj in sorted(self.objects.items())
            if kind == res.kind and (not namespace or not res.namespaced or ns == namespace)
            if all((obj["metadata"].get("labels") or {}).get(k) == v for k, v in labels)
            if all((obj.get(part) or {}).get(field) == v for (part, field), v in fields)
        ]
        return items, str(self.revision)

    def create(self, res: Resource, obj: Obj, namespace: str | None = None, *, dry_run: bool = False) -> Obj:
        self._count("POST", "create")
        new = _listed(res, obj)
        if res.kind in self.reviews:  # a review is answered, never stored
            attrs = (new.get("spec") or {}).get("resourceAttributes") or {}
            if (attrs.get("verb"), attrs.get("resource")) in self.denied:
                return {**new, "status": {"allowed": False}}
            return {**new, "status": dict(self.reviews[res.kind])}
        meta = new.setdefault("metadata", {})
        if res.namespaced and namespace:
            meta["namespace"] = namespace
        if (key := _key(res.kind, new)) in self.objects:
            raise ApiError("POST", res.path(namespace), 409, "AlreadyExists", f'{res.plural} "{key[2]}" already exists')
        meta.setdefault("uid", f"uid-{res.kind.lower()}-{key[2]}")
        if not dry_run:
            meta.setdefault("resourceVersion", self._advance())
            self.objects[key] = copy.deepcopy(new)
        return new

    def create_object(self, obj: Obj) -> Obj:
        res = resource_for(obj)
        return self.create(res, obj, obj.get("metadata", {}).get("namespace") if res.namespaced else None)

    def patch(self, res: Resource, name: str, body: Obj, namespace: str | None = None, **options: Any) -> Obj:
        """A JSON merge patch (RFC 7386: ``None`` removes a key, lists are replaced whole); ``sub`` is moot."""
        if options.get("patch_type", "merge") != "merge":
            raise NotImplementedError(f"the fake API applies merge patches only, got {options['patch_type']!r}")
        self._count("PATCH", "patch")
        patched: Obj = _merge(self._find("PATCH", res, name, namespace), body)
        patched["metadata"]["resourceVersion"] = self._advance()
        self.objects[_key(res.kind, patched)] = copy.deepcopy(patched)
        return patched

    def delete(self, res: Resource, name: str, namespace: str | None = None, **options: Any) -> Obj | None:
        """Remove at once (no Terminating phase); ``options`` (grace_seconds, uid…) go into ``deleted``."""
        self._count("DELETE", "delete")
        self.deleted.append((res.kind, name, options))
        if options.get("missing_ok", True) and _at(res, name, namespace) not in self.objects:
            return None
        found = self.objects.pop(_key(res.kind, self._find("DELETE", res, name, namespace)))
        self._advance()
        return found

    def evict(self, name: str, namespace: str, **_: Any) -> Obj:
        """Evict is delete here: the fake keeps no PodDisruptionBudgets."""
        self._count("POST", "evict")
        del self.objects[_key("Pod", self._find("POST", PODS, name, namespace))]
        self._advance()
        return {"kind": "Status", "status": "Success"}

    def raw_get(self, path: str, timeout: float = 30.0) -> str:
        self._count("GET", "raw_get")
        if path in self.paths:
            return self.paths[path]
        if path != "/version":
            raise ApiError("GET", path, 404, "NotFound", "the fake API serves only /version")
        major, minor = self.git_version.lstrip("v").split(".")[:2]
        return json.dumps({"major": major, "minor": minor, "gitVersion": self.git_version})

    def watch(self, res: Resource, namespace: str | None = None, *, resource_version: str, **_: Any) -> Iterator[Event]:
        """The next batch as scripted (selectors and timeout unused); nothing once the script ran out."""
        self._count("GET", "watch")
        self.watches.append(resource_version)
        self.now += self.watch_seconds
        batch = self.batches.pop(0) if self.batches else ()
        if isinstance(batch, Exception):
            raise batch
        for event_type, obj in batch:  # each event lands in the store as it is delivered
            if event_type == "DELETED":
                self.objects.pop(_key(res.kind, obj), None)
            else:
                self.objects[_key(res.kind, obj)] = copy.deepcopy(obj)
            yield event_type, _listed(res, obj)

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeKube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _find(self, method: str, res: Resource, name: str, namespace: str | None) -> Obj:
        found = self.objects.get(_at(res, name, namespace))
        if found is None:
            raise ApiError(method, res.path(namespace, name), 404, "NotFound", f'{res.plural} "{name}" not found')
        return found

    def _count(self, verb: str, call: str) -> None:
        self.requests[verb] += 1
        self.calls[call] += 1

    def _advance(self) -> str:
        self.revision += 1
        return str(self.revision)


def _at(res: Resource, name: str, namespace: str | None) -> Key:
    return res.kind, (namespace or "") if res.namespaced else "", name


def _key(kind: str, obj: Obj) -> Key:
    return kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _listed(res: Resource, obj: Obj) -> Obj:  # a copy with kind and apiVersion, as the real client returns
    return {"kind": res.kind, "apiVersion": res.group_version, **copy.deepcopy(obj)}


def _terms(selector: str) -> list[tuple[str, str]]:
    """``k=v,k2=v2`` (or ``==``); anything else is refused, so no test passes on a selector ignored."""
    terms = [t.strip().replace("==", "=").partition("=") for t in selector.split(",") if t.strip()]
    if bad := ["".join(t) for t in terms if not t[1] or t[0].endswith("!") or " " in t[0]]:
        raise NotImplementedError(f"the fake API knows only k=v selectors, got {bad}")
    return [(key, value) for key, _, value in terms]


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out
