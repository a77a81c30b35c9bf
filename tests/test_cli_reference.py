"""docs/cli-reference.md is generated from the commands and must match them."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.conftest import REPO

GENERATOR = REPO / "docs" / "generate_cli_reference.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_cli_reference", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_up_to_date() -> None:
    generator = load_generator()
    committed = (REPO / "docs" / "cli-reference.md").read_text(encoding="utf-8")
    assert committed == generator.render(), (
        "docs/cli-reference.md is out of date with the CLI: run"
        " `.venv/bin/python docs/generate_cli_reference.py` and commit the result"
    )


def test_cli_reference_covers_every_command() -> None:
    generator = load_generator()
    paths = [path for path, _ in generator.iter_help()]
    for expected in ("ragwright", "ragwright prompts promote", "ragwright eval gate"):
        assert expected in paths
    assert len(paths) == len(set(paths))


def test_cli_reference_is_deterministic() -> None:
    generator = load_generator()
    text = generator.render()
    assert text == generator.render()
    assert str(REPO) not in text
    assert "\x1b[" not in text  # no colour codes
    assert all(line == line.rstrip() for line in text.splitlines())
