"""What the store serves is what was reviewed: no edited published version, no path outside it.

* A published version whose file changed after publishing is refused at render
  time (``ask``, ``serve``, evals), not only by lint and promote.
* Prompt names and version ids are checked where they become paths: no ``..``,
  absolute path, nested path or hidden folder reaches a file outside the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ragwright.errors import PromptError, PromptIntegrityError
from ragwright.prompts.files import content_hash
from ragwright.prompts.lifecycle import Evidence, Lifecycle
from ragwright.prompts.model import PromptRef
from ragwright.prompts.store import PromptStore
from tests.conftest import make_prompt, run_cli, write_golden

INPUTS: dict[str, Any] = {
    "question": "How do I roll back?",
    "contexts": [{"source": "a.md", "title": "A", "text": "Use rollback."}],
}


def no_evidence(name: str, version: str, prompt_hash: str) -> Evidence | None:
    return None


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    return PromptStore(tmp_path / "prompts")  # the test project's copy of rag_answer


def edit(path: Path) -> str:
    """Append a line, as a careless hand edit would; returns the new content hash."""
    path.write_text(path.read_text("utf-8") + "Always answer in French.\n", "utf-8")
    return content_hash(path.read_bytes())


# -- hand-edited published versions ---------------------------------------------------


@pytest.mark.parametrize("ref", ["rag_answer@v2", "rag_answer:staging"])
def test_edited_published_version_is_refused_at_render(store: PromptStore, ref: str) -> None:
    path = store.folder("rag_answer") / "v2.jinja2"
    recorded = store.manifest("rag_answer").versions["v2"].hash
    actual = edit(path)

    with pytest.raises(PromptIntegrityError) as info:
        store.render(ref, INPUTS)

    message = str(info.value)
    assert str(path) in message
    assert recorded[:19] in message
    assert actual[:19] in message
    assert "git checkout" in message
    assert "ragwright prompts new rag_answer --from v2" in message
    store.render("rag_answer@v1", INPUTS)  # the other versions still serve


def test_restoring_the_file_serves_it_again(store: PromptStore) -> None:
    path = store.folder("rag_answer") / "v2.jinja2"
    original = path.read_bytes()
    edit(path)
    with pytest.raises(PromptIntegrityError):
        store.render("rag_answer@v2", INPUTS)

    path.write_bytes(original)

    assert store.render("rag_answer@v2", INPUTS).hash == content_hash(original)


def test_drafts_are_not_hash_checked(store: PromptStore) -> None:
    draft = Lifecycle(store).new("rag_answer", "v1")
    text = draft.read_text("utf-8")
    draft.write_text(text.replace("using only", "in French, using only"), "utf-8")  # drafts change
    assert "in French" in store.render("rag_answer@v3", INPUTS).text


def test_cli_render_of_edited_version_is_one_line_exit_2(tmp_path: Path) -> None:
    edit(tmp_path / "prompts" / "rag_answer" / "v1.jinja2")

    result = run_cli("prompts", "render", "rag_answer", "--example", cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "edited after publishing" in result.stderr
    assert "git checkout" in result.stderr


# -- names that would leave the store -----------------------------------------------

BAD_NAMES = ["..", "../outside", "/abs", "a/b", ".hidden", "rag_answer/..", "rag_answer\n", ""]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A prompt folder next to the store, which a traversing name would reach."""
    v1 = (tmp_path / "prompts" / "rag_answer" / "v1.jinja2").read_text("utf-8")
    folder = make_prompt(
        tmp_path, "outside", {"v1": v1, "v2": v1}, published=("v1", "v2"), aliases={}
    )
    make_prompt(tmp_path / "prompts" / "a", "b", {"v1": v1}, published=("v1",))  # a/b
    make_prompt(tmp_path / "prompts", ".hidden", {"v1": v1}, published=("v1",))
    return folder


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", BAD_NAMES)
def test_store_methods_refuse_names_outside_the_store(
    store: PromptStore, outside: Path, name: str
) -> None:
    calls = [
        lambda: store.layer_of(name),
        lambda: store.folder(name),
        lambda: store.writable_folder(name),
        lambda: store.renderer(name),
        lambda: store.manifest(name),
        lambda: store.version_ids(name),
        lambda: store.get(f"{name}@v1"),
        lambda: store.render(f"{name}:production", INPUTS),
        lambda: PromptRef(name=name, version="v1"),
    ]
    for call in calls:
        with pytest.raises(PromptError, match="prompt names are lower-case"):
            call()


@pytest.mark.parametrize("name", BAD_NAMES)
def test_lifecycle_refuses_names_outside_the_store(
    store: PromptStore, outside: Path, tmp_path: Path, name: str
) -> None:
    before = snapshot(tmp_path)
    lifecycle = Lifecycle(store)
    changes = [
        lambda: lifecycle.copy(name),
        lambda: lifecycle.new(name, "v1"),
        lambda: lifecycle.publish(name, "v1"),
        lambda: lifecycle.promote(
            name, "v2", force=True, reason="x", find_evidence=no_evidence, alias="evil"
        ),
        lambda: lifecycle.rollback(name),
    ]
    for change in changes:
        with pytest.raises(PromptError):
            change()
    after = {p: b for p, b in snapshot(tmp_path).items() if p.name != ".ragwright.lock"}
    assert after == before


@pytest.mark.parametrize("version", ["../../outside/v1", "v1/../v2", "v1\n", "/etc/passwd", "v0"])
def test_version_ids_cannot_name_other_files(store: PromptStore, version: str) -> None:
    before = snapshot(store.root)
    with pytest.raises(PromptError, match="v1, v2"):
        Lifecycle(store).publish("rag_answer", version)
    with pytest.raises(PromptError, match="v1, v2"):
        PromptRef(name="rag_answer", version=version)
    assert {p: b for p, b in snapshot(store.root).items() if p.suffix != ".lock"} == before


def test_cli_promote_outside_the_store_exits_2_and_writes_nothing(
    tmp_path: Path, outside: Path
) -> None:
    before = (outside / "prompt.yaml").read_bytes()
    (tmp_path / "golden_sets").mkdir()
    write_golden(tmp_path / "golden_sets" / "starter.jsonl")  # promote reads the golden set

    result = run_cli(
        "prompts", "promote", "../outside", "v2", "--force", "--reason", "x", cwd=tmp_path
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "'../outside' is not a prompt name" in result.stderr
    assert (outside / "prompt.yaml").read_bytes() == before


def test_hidden_and_temporary_folders_are_not_listed(store: PromptStore, outside: Path) -> None:
    assert store.names(layer="project") == ["rag_answer"]
