"""Every Python and shell example in README.md and docs/*.md runs, as written.

Blocks are found by their fence (```python, ```bash, ```sh, ```shell, ```console), so a
page added later is covered without touching this file. Each page runs in its own
copy of one scratch project (a `ragwright` demo project with its index built, in a git
repository), its blocks in order: Python blocks share one namespace, shell blocks run
with ``bash -e`` and the real ``ragwright`` command; ``$EDITOR`` makes a small edit.

A block that cannot run offline says so right above its fence, visibly, with a reason:

    <!-- docs-test: skip: starts a server that runs until stopped -->

Run only this test: ``make docs-check`` (the pages take minutes: marked slow).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(
    r"^(?:<!-- docs-test: (?P<marker>[^\n]*?) -->\n)?"
    r"```(?P<lang>python|bash|sh|shell|console)\n(?P<body>.*?)^```",
    re.DOTALL | re.MULTILINE,
)
SKIP = re.compile(r"skip: (?P<reason>\S.*)")
EDITOR = ".docs-editor.sh"
MAX_SKIPPED = 44  # opt-outs stay few: raise this only with a reason in the page


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    body: str
    skip: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        marker = match.group("marker")
        skip = None
        if marker is not None:
            parsed = SKIP.fullmatch(marker.strip())
            assert parsed, f"{page}: unknown docs-test marker {marker!r}"
            skip = parsed.group("reason")
        line = text[: match.start("lang")].count("\n") + 1
        found.append(Block(page, line, match.group("lang"), match.group("body"), skip))
    return found


def page_params() -> list[object]:
    params: list[object] = []
    for page in PAGES:
        runnable = [b for b in blocks(page) if b.skip is None]
        if not runnable:
            continue
        params.append(pytest.param(page, id=str(page.relative_to(REPO))))
    return params


def test_opt_outs_are_few_and_give_a_reason() -> None:
    skipped = [b for page in PAGES for b in blocks(page) if b.skip is not None]
    assert all(len(b.skip or "") >= 10 for b in skipped)
    assert len(skipped) <= MAX_SKIPPED, [b.where for b in skipped]
    assert sum(1 for page in PAGES for _ in blocks(page)) > 50  # the fences are found


@pytest.fixture(scope="session")
def scratch_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository as the project the pages describe, indexed and committed to git.

    Its settings, docs/, golden set and answer prompt (v1, v2) are copied; ``handbook/``
    (a second documents folder) and ``inputs.json`` (prompt inputs) stand for the files
    the pages tell the reader to bring. Each page gets its own copy.
    """
    root = tmp_path_factory.mktemp("docs-examples") / "project"
    root.mkdir()
    shutil.copy(REPO / "ragwright.toml", root)
    for folder in ("docs", "golden_sets", "prompts/rag_answer"):
        shutil.copytree(REPO / folder, root / folder)
    shutil.copytree(REPO / "docs", root / "handbook")
    (root / "inputs.json").write_text(
        '{"question": "How do I roll back?", "contexts": [{"source": "prompts.md",'
        ' "title": "Prompts", "heading": "Rollback", "text": "Run ragwright prompts rollback."}]}',
        encoding="utf-8",
    )
    editor = root / EDITOR  # the reader's edit: v1's wording, a new description
    editor.write_text(
        '#!/bin/sh\ncp "$(dirname "$1")/v1.jinja2" "$1"\n'
        "sed -i 's/^description: .*/description: Edited in the docs example./' \"$1\"\n",
        encoding="utf-8",
    )
    editor.chmod(0o755)
    env = shell_env(root)
    setup = "ragwright index run && git init -q -b main && git add -A && git commit -qm init"
    subprocess.run(["bash", "-e", "-c", setup], cwd=root, env=env, check=True, capture_output=True)
    return root


def shell_env(project: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAGWRIGHT_")},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "EDITOR": str(project / EDITOR),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
        "COLUMNS": "100",
        "NO_COLOR": "1",
        "HOME": str(project.parent),
        # What a page's gate shows is that the commands run, not the timer noise of a
        # test machine shared with other work (the latency rule has its own tests) ...
        "RAGWRIGHT_GATE__LATENCY_MARGIN": "100",
        # ... and a busy machine starts Prefect's ephemeral API in more than 20 s.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }


def shell_commands(block: Block) -> str:
    if block.lang != "console":
        return block.body
    return "\n".join(line[2:] for line in block.body.splitlines() if line.startswith("$ "))


@pytest.mark.slow  # minutes in all: pages index, answer, evaluate and gate for real
@pytest.mark.parametrize("page", page_params())
def test_page_examples_run(
    page: Path, scratch_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    shutil.copytree(scratch_project, project, symlinks=True)
    env = shell_env(project)
    for key in [k for k in os.environ if k.startswith("RAGWRIGHT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(project)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in blocks(page):
        if block.skip is not None:
            continue
        if block.lang == "python":
            exec(compile(block.body, block.where, "exec"), namespace)
            continue
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", shell_commands(block)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert done.returncode == 0, f"{block.where}\n{block.body}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, f"{block.where}\n{done.stderr}"
