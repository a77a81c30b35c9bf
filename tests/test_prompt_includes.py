"""include/extends/import cannot change a published version's output without a new version.

Only published versions of the same store load, named by a constant; publishing
records their hashes next to the including version's, and serving checks them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ragwright.errors import PromptError, PromptIntegrityError, TemplateSecurityError
from ragwright.prompts.files import content_hash, read_manifest, write_manifest
from ragwright.prompts.lifecycle import Lifecycle
from ragwright.prompts.lint import lint_store
from ragwright.prompts.store import PromptStore
from tests.conftest import make_prompt

WHO = {"who": {"type": "str"}}


def version_text(body: str) -> str:
    meta = {"description": "t", "model": "gpt-4o-mini", "variables": WHO, "example": {"who": "a"}}
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body


SHARED = (
    "{% macro greet(name) %}Hello {{ name }}{% endmacro %}"
    "{% block user %}shared {{ who }}{% endblock %}"
)
STATEMENTS = {
    "include": "{% include 'shared/v1.jinja2' %}",
    "extends": "{% extends 'shared/v1.jinja2' %}",
    "import": "{% import 'shared/v1.jinja2' as s with context %}{{ s.greet(who) }}",
    "from-import": "{% from 'shared/v1.jinja2' import greet with context %}{{ greet(who) }}",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


def shared(root: Path, *, published: bool) -> Path:
    folder = make_prompt(
        root, "shared", {"v1": version_text(SHARED)}, published=("v1",) if published else ()
    )
    return folder / "v1.jinja2"


def main(root: Path, statement: str, *, published: bool = False) -> Path:
    folder = make_prompt(
        root, "main", {"v1": version_text(statement)}, published=("v1",) if published else ()
    )
    return folder / "v1.jinja2"


@pytest.mark.parametrize("kind", list(STATEMENTS))
def test_a_draft_cannot_be_included(root: Path, kind: str) -> None:
    shared(root, published=False)
    main(root, STATEMENTS[kind], published=True)

    with pytest.raises(TemplateSecurityError) as info:
        PromptStore(root).render("main@v1", {"who": "ann"})

    assert "main@v1" in str(info.value)
    assert "'shared/v1.jinja2' is a draft" in str(info.value)
    assert "ragwright prompts publish shared v1" in str(info.value)


@pytest.mark.parametrize("kind", list(STATEMENTS))
def test_a_published_version_can_be_included(root: Path, kind: str) -> None:
    shared(root, published=True)
    main(root, STATEMENTS[kind])

    text = PromptStore(root).render("main@v1", {"who": "ann"}).text

    assert "ann" in text


@pytest.mark.parametrize("kind", list(STATEMENTS))
def test_publish_refuses_a_draft_include_then_records_the_published_one(
    root: Path, kind: str
) -> None:
    shared(root, published=False)
    main(root, STATEMENTS[kind])
    store = PromptStore(root)
    manifest = root / "main" / "prompt.yaml"
    before = manifest.read_bytes()

    with pytest.raises(TemplateSecurityError, match=r"'shared/v1\.jinja2' is a draft"):
        Lifecycle(store).publish("main", "v1")
    assert manifest.read_bytes() == before

    Lifecycle(store).publish("shared", "v1")
    record = Lifecycle(store).publish("main", "v1")

    shared_hash = store.get("shared@v1").hash
    assert record.includes == {"shared@v1": shared_hash}
    assert read_manifest(manifest).versions["v1"].includes == {"shared@v1": shared_hash}


def test_includes_are_recorded_transitively(root: Path) -> None:
    make_prompt(root, "base", {"v1": version_text("base {{ who }}")}, published=("v1",))
    make_prompt(
        root, "shared", {"v1": version_text("{% include 'base/v1.jinja2' %}")}, published=("v1",)
    )
    main(root, STATEMENTS["include"])
    store = PromptStore(root)

    record = Lifecycle(store).publish("main", "v1")

    assert record.includes is not None
    assert sorted(record.includes) == ["base@v1", "shared@v1"]
    assert store.render("main@v1", {"who": "ann"}).text.endswith("base ann")


def test_editing_an_included_version_is_refused_for_the_includer(root: Path) -> None:
    shared_path = shared(root, published=True)
    main(root, STATEMENTS["include"])
    store = PromptStore(root)
    Lifecycle(store).publish("main", "v1")
    # someone edits shared/v1.jinja2 and "fixes" its hash in prompt.yaml to match:
    # shared@v1 itself now passes, but main@v1 was published with the old text
    shared_path.write_text(shared_path.read_text("utf-8").replace("shared", "SHOUTED"), "utf-8")
    manifest = read_manifest(root / "shared" / "prompt.yaml")
    manifest.versions["v1"].hash = content_hash(shared_path.read_bytes())
    write_manifest(root / "shared" / "prompt.yaml", manifest)

    with pytest.raises(PromptIntegrityError) as info:
        store.render("main@v1", {"who": "ann"})

    assert "shared@v1, included by main@v1, changed after main@v1 was published" in str(info.value)
    assert str(shared_path) in str(info.value)
    assert [f.version for f in lint_store(store) if f.level == "error"] == ["v1"]


def test_a_hand_edited_included_file_is_refused(root: Path) -> None:
    shared_path = shared(root, published=True)
    main(root, STATEMENTS["include"])  # a draft including a published version

    shared_path.write_text(shared_path.read_text("utf-8") + "extra\n", "utf-8")

    with pytest.raises(PromptIntegrityError, match="shared@v1 was edited after publishing"):
        PromptStore(root).render("main@v1", {"who": "ann"})


@pytest.mark.parametrize(
    "statement",
    [
        "{% include who %}",
        "{% include 'shared/' ~ 'v1.jinja2' %}",
        "{% include ['shared/v1.jinja2', 'other/v1.jinja2'] %}",
        "{% extends who %}",
        "{% import who as s %}",
        "{% from who import greet %}",
    ],
)
def test_include_targets_must_be_constant(root: Path, statement: str) -> None:
    shared(root, published=True)
    path = main(root, statement)

    with pytest.raises(TemplateSecurityError, match=r"quoted 'NAME/vN\.jinja2'") as info:
        PromptStore(root).render("main@v1", {"who": "shared/v1.jinja2"})
    assert str(path) in str(info.value)
    with pytest.raises(TemplateSecurityError):
        Lifecycle(PromptStore(root)).publish("main", "v1")


@pytest.mark.parametrize(
    "target",
    ["shared/notes.jinja2", "shared/prompt.yaml", "shared/v1.txt", "shared/../shared/v1.jinja2"],
)
def test_only_version_files_can_be_included(root: Path, target: str) -> None:
    shared(root, published=True)
    (root / "shared" / "notes.jinja2").write_text("unreviewed", "utf-8")
    main(root, f"{{% include '{target}' %}}")

    with pytest.raises(PromptError, match="only published versions of this store load"):
        PromptStore(root).render("main@v1", {"who": "ann"})


def test_publish_refuses_an_ignore_missing_include_of_a_version_that_does_not_exist(
    root: Path,
) -> None:
    # It renders as nothing today; a later shared@v1 would change main@v1's output.
    main(root, "{% include 'shared/v1.jinja2' ignore missing %}ok")
    make_prompt(root, "shared", {})

    with pytest.raises(PromptError, match=r"cannot include shared/v1\.jinja2"):
        Lifecycle(PromptStore(root)).publish("main", "v1")


def test_includes_stay_inside_their_layer(tmp_path: Path) -> None:
    # A project prompt cannot include a built-in one (their hashes live in another store).
    root = tmp_path / "store"
    main(root, "{% include 'judge_relevance/v1.jinja2' %}")
    inputs: dict[str, Any] = {"who": "ann"}
    with pytest.raises(PromptError, match="no such version"):
        PromptStore(root).render("main@v1", inputs)
