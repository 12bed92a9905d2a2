"""The public surface: ``wamd`` and ``wamd.events`` name what a program needs, lazily."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys

import pytest

import wamd
import wamd.events
from tests.conftest import ROOT, subprocess_env


def test_every_exported_name_resolves_and_is_documented() -> None:
    for module in (wamd, wamd.events):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
                assert inspect.getdoc(value), f"{module.__name__}.{name} has no docstring"
    assert wamd.Message is wamd.events.Message
    assert wamd.events is importlib.import_module("wamd.events")


def test_unknown_names_raise_attribute_error() -> None:
    for module in (wamd, wamd.events):
        with pytest.raises(AttributeError, match="NoSuchThing"):
            module.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_wamd_events_names_every_event_the_package_defines() -> None:
    """A new event class in a topic module must be exported from ``wamd.events`` too."""
    defined: set[str] = set()
    for info in pkgutil.walk_packages(wamd.__path__, "wamd."):
        if info.name.startswith(("wamd.sandbox", "wamd.proto", "wamd.cli", "wamd.__main__")):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, wamd.events.Event)
                and value.__module__ == info.name
                and not name.startswith("_")
            ):
                defined.add(name)
    assert defined, "no events found"
    missing = sorted(defined - set(wamd.events.__all__))
    assert not missing, f"events not exported from wamd.events: {missing}"


def test_import_wamd_stays_light() -> None:
    code = "import sys, wamd; print(sorted(m for m in sys.modules if m.startswith('wamd')))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "['wamd', 'wamd.errors']"


def test_readme_python_blocks_compile_and_use_public_names() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "wamd":
                for alias in node.names:
                    assert alias.name in wamd.__all__, f"README imports wamd.{alias.name}"
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "events"
            ):
                assert node.attr in wamd.events.__all__, f"README uses events.{node.attr}"
