"""Every Python example in the README runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragwright.flows.ingest import ingest
from ragwright.settings import Settings
from tests.conftest import REPO

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)


def test_readme_has_python_examples() -> None:
    assert BLOCKS


@pytest.mark.parametrize("code", BLOCKS)
def test_readme_example_runs(
    code: str, small_docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(Settings(docs_dir=small_docs))
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "[rollback.md]" in out
    assert "rag_answer@v1" in out
