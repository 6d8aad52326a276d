"""The activity boundary: where ordinal's errors become Chaos Toolkit's ``ActivityFailed``.

Chaos Toolkit passes ``--var`` values as strings unless the user writes ``name:int=…``, so
the boundary also turns ``"2"`` into ``2`` for parameters annotated ``int``/``float``/``bool``.
The wrapper keeps the function's signature (``functools.wraps`` sets ``__wrapped__``), which
is what chaoslib's discovery and validation read.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from chaoslib.exceptions import ActivityFailed

from ordinal.errors import InvalidScenario, OrdinalError
from ordinal.kube.rest import ApiError

P = ParamSpec("P")
R = TypeVar("R")

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


def first_line(err: BaseException) -> str:
    """The line journals keep: ordinal errors put target, expected and seen there."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def activity(fn: Callable[P, R]) -> Callable[P, R]:
    """Mark a Chaos Toolkit activity: coerce string arguments, translate ordinal errors at the edge."""
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn)  # resolves postponed (string) annotations too

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            bound = signature.bind(*args, **kwargs)
            for name, value in bound.arguments.items():
                bound.arguments[name] = coerce(name, value, hints.get(name))
            return fn(*bound.args, **bound.kwargs)
        except (OrdinalError, ApiError) as err:
            raise ActivityFailed(f"{fn.__name__}: {first_line(err)}") from err

    return run


def coerce(name: str, value: Any, annotation: Any) -> Any:
    """``"3"`` → 3 for an ``int`` parameter (likewise float and bool); anything else unchanged."""
    if not isinstance(value, str) or annotation not in (int, float, bool):
        return value
    text = value.strip()
    try:
        if annotation is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        return annotation(text)
    except ValueError:
        raise InvalidScenario(f"expected argument {name} to be {annotation.__name__}, got {value!r}") from None
