"""A pytest plugin (`-p tests.install.tree`) that keeps the tests that read the repository's
working tree: those using the `example` fixture, and those whose code names the examples
folder. The quick-start test runs the README's test command with it in a tree the quick start
has just written into, so that the suite it runs takes seconds, not the whole suite's minute.
"""

from __future__ import annotations

import inspect

import pytest

_MARKS = ("copy_examples", '"examples"', "examples/", "ROOT")


def _reads_the_tree(item: pytest.Item) -> bool:
    if "example" in getattr(item, "fixturenames", ()):
        return True
    function = getattr(item, "function", None)
    try:
        source = inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):
        return False
    return any(mark in source for mark in _MARKS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep = [i for i in items if _reads_the_tree(i) and "tests/install/" not in i.nodeid]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep
