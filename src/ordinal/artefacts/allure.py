"""The only module that imports allure: labels, titles, steps and attachments.

Everything is a no-op in effect when the run has no ``--alluredir`` (allure-pytest then
keeps no test result), so the plugin calls these unconditionally.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import allure as _typed_allure
import pytest

#: allure's decorators and helpers carry no annotations; go through Any instead of ignores.
allure: Any = _typed_allure


@contextmanager
def step(title: str) -> Iterator[None]:
    with allure.step(title):
        yield


def label_item(item: pytest.Item, *, epic: str, feature: str, story: str) -> None:
    """Put the promise area (epic), feature and story on a collected test.

    Added as markers at collection, so skipped tests carry them too and allure's own
    ``--allure-epics`` selection sees them.
    """
    item.add_marker(allure.epic(epic))
    item.add_marker(allure.feature(feature))
    item.add_marker(allure.story(story))


def title_function(function: Any, title: str, *, parametrized: bool) -> None:
    """Use ``title`` (the docstring's MUST sentence) as the allure test name, with the param id appended."""
    escaped = title.replace("{", "{{").replace("}", "}}")
    allure.title(escaped + (" [{param_id}]" if parametrized else ""))(function)


def attach_json(name: str, data: Any) -> None:
    allure.attach(json.dumps(data, indent=2, default=str), name=name, attachment_type=allure.attachment_type.JSON)


def attach_text(name: str, text: str) -> None:
    allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


def write_environment(results_dir: str | Path, properties: Iterable[tuple[str, str]]) -> None:
    """``environment.properties`` in the results directory: shown on the report's front page."""
    path = Path(results_dir)
    path.mkdir(parents=True, exist_ok=True)
    lines = [f"{key.replace(' ', '.')}={value}" for key, value in properties]
    (path / "environment.properties").write_text("\n".join(lines) + "\n")


_FAILING: dict[type[BaseException], type[BaseException]] = {}


def count_as_failure(err: BaseException) -> None:
    """Make allure file a broken promise as *failed*, not *broken*.

    allure-pytest calls everything but an AssertionError "broken" (a defect of the test, not of
    the product). A promise the cluster broke (InvariantViolated, a WaitTimeout) is a product
    failure, so the exception is given a subclass that is also an AssertionError; its name,
    message and traceback stay as they are.
    """
    cls = type(err)
    if isinstance(err, AssertionError):
        return
    if cls not in _FAILING:
        _FAILING[cls] = type(
            cls.__name__, (cls, AssertionError), {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        )
    err.__class__ = _FAILING[cls]
