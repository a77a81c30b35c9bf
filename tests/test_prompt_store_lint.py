"""The prompt store: references, file parsing, atomic manifests, lint and the prompts CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ragwright.cli.app import app
from ragwright.errors import PromptError, PromptFileError
from ragwright.prompts import files
from ragwright.prompts.files import content_hash, read_manifest, read_version, write_manifest
from ragwright.prompts.lint import Finding, lint_store
from ragwright.prompts.model import HistoryEntry, Manifest, PromptRef, VersionRecord
from ragwright.prompts.store import PromptStore
from tests import conftest
from tests.conftest import PUBLISHED_AT, make_prompt

REPO = Path(__file__).resolve().parent.parent
BUILTIN_STORE = REPO / "prompts"


def version_text(
    body: str = "Hello {{ who }}.\n",
    *,
    variables: dict[str, Any] | None = None,
    example: dict[str, Any] | None = None,
    model: str = "gpt-4o-mini",
) -> str:
    meta: dict[str, Any] = {
        "description": "test prompt",
        "model": model,
        "variables": {"who": {"type": "str"}} if variables is None else variables,
        "example": {"who": "world"} if example is None else example,
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    make_prompt(
        root,
        "greet",
        {"v1": version_text(), "v2": version_text("Hi {{ who }}!\n"), "v3": version_text()},
        published=("v1", "v2"),
        aliases={"production": "v1", "staging": "v2"},
    )
    make_prompt(root, "other", {"v1": version_text()}, published=("v1",))
    return root


@pytest.fixture
def store(root: Path) -> PromptStore:
    return PromptStore(root)


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


# --- references -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("greet", PromptRef("greet", alias="production")),
        ("greet@v2", PromptRef("greet", version="v2")),
        ("greet:staging", PromptRef("greet", alias="staging")),
        ("  greet@v12 ", PromptRef("greet", version="v12")),
    ],
)
def test_prompt_ref_parse(text: str, expected: PromptRef) -> None:
    assert PromptRef.parse(text) == expected


@pytest.mark.parametrize("text", ["greet@2", "greet@v0", "greet@latest", "Greet", "1greet", ""])
def test_prompt_ref_parse_rejects_bad_references(text: str) -> None:
    with pytest.raises(PromptError):
        PromptRef.parse(text)


def test_prompt_ref_str_round_trips() -> None:
    for text in ("greet@v3", "greet:staging"):
        assert str(PromptRef.parse(text)) == text
    assert str(PromptRef.parse("greet")) == "greet:production"


# --- resolving --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "version"),
    [("greet", "v1"), ("greet@v2", "v2"), ("greet:staging", "v2"), ("greet@v3", "v3")],
)
def test_resolve(store: PromptStore, ref: str, version: str) -> None:
    assert store.resolve(ref) == ("greet", version)


def test_resolve_accepts_a_parsed_ref(store: PromptStore) -> None:
    assert store.resolve(PromptRef("greet", alias="staging")) == ("greet", "v2")


def test_get_reports_published_and_draft(store: PromptStore, root: Path) -> None:
    published = store.get("greet")
    draft = store.get("greet@v3")

    assert published.ref == "greet@v1"
    assert published.published is True
    assert published.hash == content_hash((root / "greet" / "v1.jinja2").read_bytes())
    assert draft.published is False
    assert draft.file.meta.variables["who"].type == "str"


def test_unknown_prompt_names_known_prompts(store: PromptStore) -> None:
    with pytest.raises(PromptError) as info:
        store.resolve("nosuch")
    message = str(info.value)
    assert "nosuch" in message
    assert "greet" in message
    assert "other" in message


def test_unknown_version_names_existing_versions(store: PromptStore) -> None:
    with pytest.raises(PromptError) as info:
        store.resolve("greet@v9")
    message = str(info.value)
    assert "v9" in message
    assert "v1, v2, v3" in message


def test_unknown_alias_names_existing_aliases(store: PromptStore) -> None:
    with pytest.raises(PromptError) as info:
        store.resolve("greet:canary")
    message = str(info.value)
    assert "canary" in message
    assert "production" in message
    assert "staging" in message


def test_bare_name_without_production_alias_is_an_error(store: PromptStore) -> None:
    with pytest.raises(PromptError, match="production"):
        store.resolve("other")


def test_store_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="does not exist"):
        PromptStore(tmp_path / "missing")


def test_names_lists_only_folders_with_a_manifest(root: Path) -> None:
    (root / "not_a_prompt").mkdir()
    (root / "not_a_prompt" / "v1.jinja2").write_text(version_text(), encoding="utf-8")
    assert PromptStore(root, builtin=None).names() == ["greet", "other"]
    assert PromptStore(root).names(layer="project") == ["greet", "other"]


def test_version_ids_are_numeric_and_ignore_stray_files(root: Path) -> None:
    folder = make_prompt(
        root, "many", {f"v{i}": version_text() for i in (1, 2, 10, 9)}, published=("v1",)
    )
    for stray in ("v0.jinja2", "v01.jinja2", "notes.jinja2", "v4.txt", "vx.jinja2"):
        (folder / stray).write_text("x", encoding="utf-8")

    assert PromptStore(root).version_ids("many") == ["v1", "v2", "v9", "v10"]


# --- files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("description: d\nmodel: m\n\nHello\n", 1, None, "must start with '---'"),
        ("---\ndescription: d\nmodel: m\nHello\n", 1, None, "not closed"),
        ("---\ndescription: d\nmodel: a: b\n---\nHello\n", 3, None, "invalid YAML"),
        ("---\ndescription: d\nmodel: m\ncolour: red\n---\nHello\n", 4, "colour", "Extra"),
        (
            "---\ndescription: d\nmodel: m\nvariables:\n  who: {type: string}\n---\nHi\n",
            4,
            "variables.who.type",
            "'str'",
        ),
        ("---\ndescription: d\nmodel: m\nparameters: {temperature: hot}\n---\nH\n", 4, None, ""),
        ("---\n- a list\n---\nHello\n", 2, None, "mapping"),
    ],
)
def test_broken_front_matter_names_path_line_and_field(
    tmp_path: Path, text: str, line: int, field: str | None, words: str
) -> None:
    path = tmp_path / "v1.jinja2"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(PromptFileError) as info:
        read_version(path)

    err = info.value
    assert err.path == path
    assert err.line == line
    if field is not None:
        assert err.field == field
    assert str(path) in str(err)
    assert f":{line}" in str(err)
    assert words in str(err)


def test_invalid_yaml_line_points_into_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "v1.jinja2"
    path.write_text("---\ndescription: d\nmodel: m\nexample: {who: [x\n---\nHello\n", "utf-8")

    with pytest.raises(PromptFileError) as info:
        read_version(path)

    assert info.value.line is not None
    assert 4 <= info.value.line <= 5  # the unclosed flow sequence or the closing fence


def test_version_body_and_body_line(tmp_path: Path) -> None:
    path = tmp_path / "v1.jinja2"
    path.write_text("---\ndescription: d\nmodel: m\n---\nline A\nline B\n", "utf-8")

    version = read_version(path)

    assert version.body == "line A\nline B\n"
    assert version.body_line == 5
    assert version.hash == content_hash(path.read_bytes())
    assert version.meta.variables == {}


def test_missing_and_undecodable_version_files(tmp_path: Path) -> None:
    with pytest.raises(PromptFileError, match="not found") as info:
        read_version(tmp_path / "v7.jinja2")
    assert info.value.path == tmp_path / "v7.jinja2"

    latin = tmp_path / "v8.jinja2"
    latin.write_bytes(b"---\ndescription: caf\xe9\nmodel: m\n---\nx\n")
    with pytest.raises(PromptFileError, match="UTF-8"):
        read_version(latin)


def test_broken_version_surfaces_through_the_store(store: PromptStore, root: Path) -> None:
    path = root / "greet" / "v3.jinja2"
    path.write_text("---\ndescription: d\nmodel: m\nbogus: 1\n---\nx\n", "utf-8")

    with pytest.raises(PromptFileError) as info:
        store.get("greet@v3")
    assert info.value.path == path
    assert info.value.line == 4


def test_broken_manifest_names_field_and_line(store: PromptStore, root: Path) -> None:
    manifest = root / "greet" / "prompt.yaml"
    manifest.write_text("name: greet\naliases: {}\nowner: me\n", "utf-8")

    with pytest.raises(PromptFileError) as info:
        store.manifest("greet")
    assert info.value.path == manifest
    assert info.value.line == 3
    assert info.value.field == "owner"


def test_missing_manifest_is_a_prompt_file_error(tmp_path: Path) -> None:
    with pytest.raises(PromptFileError, match=r"prompt\.yaml"):
        read_manifest(tmp_path / "prompt.yaml")


def test_write_manifest_round_trips(tmp_path: Path) -> None:
    manifest = Manifest(
        name="greet",
        description="Greets — ünïcode",
        aliases={"production": "v1"},
        versions={"v1": VersionRecord(hash="sha256:" + "a" * 64, published_at=PUBLISHED_AT)},
        history=[
            HistoryEntry(
                at=PUBLISHED_AT, by="me", action="promote", alias="production", to_version="v1"
            )
        ],
    )
    path = tmp_path / "greet" / "prompt.yaml"
    path.parent.mkdir()
    write_manifest(path, manifest)

    assert read_manifest(path) == manifest
    assert sorted(p.name for p in path.parent.iterdir()) == ["prompt.yaml"]


@pytest.mark.parametrize("crash_in", ["replace", "fsync"])
def test_write_manifest_is_atomic_on_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_in: str
) -> None:
    folder = make_prompt(tmp_path, "greet", {"v1": version_text()}, published=("v1",))
    path = folder / "prompt.yaml"
    original = path.read_bytes()
    listing = sorted(p.name for p in folder.iterdir())

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(files.os, crash_in, crash)
    changed = read_manifest(path).model_copy(update={"aliases": {"production": "v9"}})

    with pytest.raises(OSError, match="simulated crash"):
        write_manifest(path, changed)

    assert path.read_bytes() == original
    assert sorted(p.name for p in folder.iterdir()) == listing  # no temp file left behind


def test_write_manifest_replaces_in_place(tmp_path: Path) -> None:
    folder = make_prompt(tmp_path, "greet", {"v1": version_text()}, published=("v1",))
    path = folder / "prompt.yaml"
    manifest = read_manifest(path)

    write_manifest(path, manifest.model_copy(update={"aliases": {"production": "v1"}}))

    assert read_manifest(path).aliases == {"production": "v1"}
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# --- lint -------------------------------------------------------------------------------


def test_lint_clean_store_has_no_errors_and_reports_tokens(store: PromptStore) -> None:
    findings = lint_store(store)

    assert errors(findings) == []
    token_infos = [f for f in findings if "tokens" in f.message]
    assert {(f.prompt, f.version) for f in token_infos} == {
        ("greet", "v1"),
        ("greet", "v2"),
        ("greet", "v3"),
        ("other", "v1"),
    }
    assert all(f.level == "info" and "gpt-4o-mini" in f.message for f in token_infos)


def test_lint_reports_draft_as_info(store: PromptStore) -> None:
    drafts = [f for f in lint_store(store) if "draft" in f.message]
    assert [(f.level, f.prompt, f.version) for f in drafts] == [("info", "greet", "v3")]


def test_lint_edited_published_version_is_an_error(store: PromptStore, root: Path) -> None:
    path = root / "greet" / "v2.jinja2"
    path.write_text(path.read_text("utf-8") + "one more line\n", "utf-8")

    found = errors(lint_store(store))

    assert len(found) == 1
    finding = found[0]
    assert (finding.prompt, finding.version) == ("greet", "v2")
    assert str(path) in finding.message
    assert "immutable" in finding.message
    assert "ragwright prompts new greet" in finding.message


def test_lint_missing_published_file_is_an_error(store: PromptStore, root: Path) -> None:
    (root / "greet" / "v2.jinja2").unlink()

    found = errors(lint_store(store))

    assert [(f.prompt, f.version) for f in found] == [("greet", "v2")]
    assert "missing" in found[0].message


@pytest.mark.parametrize("target", ["v3", "v7"])  # a draft, and a version with no file
def test_lint_alias_to_unpublished_version_is_an_error(root: Path, target: str) -> None:
    manifest_path = root / "greet" / "prompt.yaml"
    manifest = read_manifest(manifest_path)
    write_manifest(
        manifest_path,
        manifest.model_copy(update={"aliases": {"production": "v1", "canary": target}}),
    )

    found = errors(lint_store(PromptStore(root)))

    assert len(found) == 1
    assert found[0].version == target
    assert "canary" in found[0].message
    assert "unpublished" in found[0].message


def test_lint_example_that_does_not_render_is_an_error(root: Path) -> None:
    make_prompt(root, "noex", {"v1": version_text(example={})})
    make_prompt(root, "typo", {"v1": version_text(example={"who": "a", "whom": "b"})})

    found = {(f.prompt, f.version): f.message for f in errors(lint_store(PromptStore(root)))}

    assert set(found) == {("noex", "v1"), ("typo", "v1")}
    assert "example does not render" in found["noex", "v1"]
    assert "who" in found["noex", "v1"]
    assert "whom" in found["typo", "v1"]


def test_lint_unsafe_template_is_an_error(root: Path) -> None:
    make_prompt(root, "evil", {"v1": version_text("{{ who.__class__ }}")})

    found = errors(lint_store(PromptStore(root)))

    assert [(f.prompt, f.version) for f in found] == [("evil", "v1")]
    assert "__class__" in found[0].message


def test_lint_broken_manifest_is_an_error_not_a_crash(root: Path) -> None:
    (root / "other" / "prompt.yaml").write_text("name: other\nversions: [1, 2]\n", "utf-8")

    found = errors(lint_store(PromptStore(root)))

    assert [(f.prompt, f.version) for f in found] == [("other", None)]
    assert "prompt.yaml" in found[0].message


def test_lint_broken_front_matter_of_published_version(root: Path, store: PromptStore) -> None:
    (root / "greet" / "v1.jinja2").write_text("no front matter\n", "utf-8")

    found = [f for f in errors(lint_store(store)) if f.version == "v1"]

    assert found
    assert all(f.prompt == "greet" for f in found)


def test_lint_unknown_model_is_a_warning(root: Path) -> None:
    make_prompt(root, "exotic", {"v1": version_text(model="some-new-model")})

    findings = [f for f in lint_store(PromptStore(root)) if f.prompt == "exotic"]

    warnings = [f for f in findings if f.level == "warning"]
    assert len(warnings) == 1
    assert "some-new-model" in warnings[0].message
    assert errors(findings) == []


def test_lint_example_over_the_context_window_is_an_error(root: Path) -> None:
    make_prompt(
        root,
        "huge",
        {"v1": version_text(model="local/extractive", example={"who": "word " * 9000})},
    )
    found = errors(lint_store(PromptStore(root)))
    assert [(f.prompt, f.version) for f in found] == [("huge", "v1")]
    assert "8192" in found[0].message


def test_lint_survives_python_error_in_example(root: Path) -> None:
    body = "{{ 10 // n }}"
    make_prompt(
        root, "math", {"v1": version_text(body, variables={"n": {"type": "int"}}, example={"n": 0})}
    )

    found = errors(lint_store(PromptStore(root)))

    assert [(f.prompt, f.version) for f in found] == [("math", "v1")]


def test_builtin_store_lints_without_errors() -> None:
    store = PromptStore(BUILTIN_STORE)
    findings = lint_store(store)

    assert {"rag_answer", "judge_hallucination", "judge_relevance"} <= set(store.names())
    assert errors(findings) == [], errors(findings)


# --- CLI --------------------------------------------------------------------------------


def run_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return conftest.run_cli(*args, cwd=tmp_path, env={"COLUMNS": "400"}, timeout=60)


def test_cli_render_missing_variable_exits_2_naming_it(tmp_path: Path) -> None:
    result = run_cli(
        "prompts", "render", "rag_answer@v1", "--input", "question=hi", tmp_path=tmp_path
    )

    assert result.returncode == 2, result.stderr
    assert "contexts" in result.stderr
    assert "rag_answer@v1" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_render_with_json_input(tmp_path: Path) -> None:
    contexts = '[{"source": "s.md", "title": "T", "text": "Body text."}]'
    result = run_cli(
        "prompts",
        "render",
        "rag_answer@v1",
        "--input",
        "question=What now?",
        "--input",
        f"contexts={contexts}",
        tmp_path=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert "<question>What now?</question>" in result.stdout
    assert "Body text." in result.stdout


def test_cli_lint_builtin_store_exits_0() -> None:
    result = CliRunner().invoke(app, ["prompts", "lint"])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_cli_lint_edited_published_version_exits_1(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = root / "greet" / "v1.jinja2"
    path.write_text(path.read_text("utf-8").replace("Hello", "Howdy"), "utf-8")
    monkeypatch.setenv("RAGWRIGHT_PROMPTS_DIR", str(root))

    result = CliRunner().invoke(app, ["prompts", "lint"])

    assert result.exit_code == 1, result.output
    assert "1 error(s)" in result.output
    assert "ragwright prompts new" in " ".join(result.output.split())


def test_cli_lint_subprocess_exit_code_on_edited_version(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = root / "other" / "v1.jinja2"
    path.write_text(path.read_text("utf-8") + "\n", "utf-8")
    monkeypatch.setenv("RAGWRIGHT_PROMPTS_DIR", str(root))

    result = run_cli("prompts", "lint", tmp_path=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "other@v1" in result.stdout
