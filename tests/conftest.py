"""Test fixtures: every test gets its own state directory; network models are blocked.

Like llm's user-dir fixture, ``isolated_home`` points all ragwright state at a
temporary directory, so tests never touch a developer's ``.ragwright``. Like
pydantic-ai's ``ALLOW_MODEL_REQUESTS``, network model calls fail unless a test
explicitly allows them (only tests against the local fake OpenAI server do).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ragwright.offline import apply_offline_defaults
from ragwright.prompts.files import content_hash, write_manifest
from ragwright.prompts.model import Manifest, VersionRecord
from ragwright.providers import guard

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

apply_offline_defaults()
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(autouse=True)
def _block_model_requests() -> Iterator[None]:
    with guard.override_allow_model_requests(False):
        yield


@pytest.fixture(autouse=True)
def _restore_ragwright_logger() -> Iterator[None]:
    """A test that runs the CLI's ``main`` in-process installs log redaction (its own
    handler, no propagation); later tests' ``caplog`` must still see ragwright's records."""
    logger = logging.getLogger("ragwright")
    saved = (logger.propagate, list(logger.handlers), list(logger.filters), logger.level)
    yield
    logger.propagate, logger.handlers[:], logger.filters[:], logger.level = (
        saved[0],
        saved[1],
        saved[2],
        saved[3],
    )


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in its own project: tmp_path, its state under tmp_path/home.

    tmp_path gets a ragwright.toml and a copy of this repository's answer prompt
    (prompts/rag_answer), so settings resolve there, as in any user's project, and
    no test can write into the repository's own prompt store.
    """
    home = tmp_path / "home"
    for key in list(os.environ):
        if key.startswith("RAGWRIGHT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RAGWRIGHT_HOME", str(home))
    # Each test is a fresh project: exporting MiniLM to ONNX in each would cost seconds.
    # tests/test_onnx_embeddings.py runs that path.
    monkeypatch.setenv("RAGWRIGHT_EMBEDDING_ONNX", "false")
    (tmp_path / "ragwright.toml").write_text("# a test's project\n", encoding="utf-8")
    shutil.copytree(REPO / "prompts" / "rag_answer", tmp_path / "prompts" / "rag_answer")
    monkeypatch.chdir(tmp_path)
    return home


SMALL_DOCS = {
    "rollback.md": """
        # Rolling back prompts

        ## The rollback command
        The ragwright prompts rollback command moves the production alias back to the
        previous production version. The rollback is recorded in the prompt history.

        ## History
        Every promotion and rollback is written to prompt.yaml with the user and the time.
        """,
    "chroma.md": """
        # Chroma modes

        Setting RAGWRIGHT_CHROMA_URL switches ragwright from the embedded Chroma database
        to a Chroma server. Without it, Chroma runs embedded under the .ragwright folder.
        """,
    "costs.md": """
        # Costs

        Every model call records its tokens, latency and cost in a SQLite database.
        A model with no known price gets a null cost and a warning, never a silent zero.
        """,
    "gardening.txt": """
        Tomatoes need six hours of sun a day and regular watering in summer.
        Basil grows well next to tomatoes and keeps some pests away.
        """,
}


def write_docs(folder: Path, docs: dict[str, str] = SMALL_DOCS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(textwrap.dedent(text).strip() + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def small_docs(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "docs")


PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ragwright's wheel, built once per session from a clean copy of the source tree.

    The copy holds exactly the files git would commit (tracked and untracked, minus
    ignored ones), so a stale ``build/`` or egg-info of the checkout cannot leak in.
    """
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.decode("utf-8")
    for name in filter(None, listed.split("\0")):
        origin = REPO / name
        if not origin.is_symlink() and not origin.exists():
            continue  # deleted in the work tree, not yet in git
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target, follow_symlinks=False)  # ragwright/rag -> ../rag stays a link
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("ragwright-*.whl")
    return built


def network_can_be_cut() -> bool:
    """Whether this machine lets us run a command with only a loopback interface."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def requires_shared_data(*parts: str) -> pytest.MarkDecorator:
    path = SHARED_DATA.joinpath(*parts)
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is absent (external data)")


PUBLISHED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def make_prompt(
    root: Path,
    name: str,
    versions: dict[str, str],
    *,
    published: tuple[str, ...] = (),
    aliases: dict[str, str] | None = None,
) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    records = {}
    for vid, text in versions.items():
        path = folder / f"{vid}.jinja2"
        path.write_text(text, encoding="utf-8")
        if vid in published:
            records[vid] = VersionRecord(
                hash=content_hash(path.read_bytes()), published_at=PUBLISHED_AT
            )
    manifest = Manifest(name=name, aliases=aliases or {}, versions=records)
    write_manifest(folder / "prompt.yaml", manifest)
    return folder


SMALL_GOLDEN = [
    {
        "id": "a",
        "question": "How do I roll back the production prompt?",
        "expected_sources": ["rollback.md"],
    },
    {
        "id": "b",
        "question": "How many hours of sun do tomatoes need?",
        "expected_sources": ["gardening.txt"],
    },
]


def write_golden(path: Path, cases: list[dict[str, object]] = SMALL_GOLDEN) -> Path:
    """A golden set about SMALL_DOCS, one JSON object per line."""
    path.write_text("\n".join(json.dumps(c) for c in cases) + "\n", encoding="utf-8")
    return path


def cost_rows(path: Path) -> list[sqlite3.Row]:
    """Every row of a cost store's ``calls`` table, read raw (not through the store)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM calls ORDER BY id").fetchall()
    finally:
        conn.close()


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real ``ragwright`` command (its error mapping and exit codes included)."""
    return subprocess.run(
        [sys.executable, "-m", "ragwright.cli.app", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
    )


def record_spend(path: Path, usd: float, model: str = "gpt-4o-mini") -> None:
    """One priced call of ``usd`` dollars, now, in the cost store at ``path`` (for budgets)."""
    from ragwright.costs.record import CallRecord
    from ragwright.costs.store import CostStore

    store = CostStore(path)
    try:
        store.insert(
            [
                CallRecord(
                    ts=datetime.now(UTC).isoformat(timespec="milliseconds"),
                    provider="openai",
                    model=model,
                    operation="generate",
                    prompt="rag_answer@v1",
                    prompt_tokens=10,
                    completion_tokens=10,
                    estimated=False,
                    latency_ms=100.0,
                    cost_usd=usd,
                    status="ok",
                )
            ]
        )
    finally:
        store.close()
