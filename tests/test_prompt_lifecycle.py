"""Prompt lifecycle: new, publish, promote with evidence, rollback, history, registry."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from ragwright.errors import PromptError, PromptFileError
from ragwright.prompts.files import content_hash, read_manifest, write_manifest
from ragwright.prompts.lifecycle import Evidence, Lifecycle, diff_versions
from ragwright.prompts.model import VersionRecord
from ragwright.prompts.registry import RegistryMirror
from ragwright.prompts.store import PromptStore
from tests import conftest
from tests.conftest import write_docs, write_golden

EVIDENCE = Evidence(run_id="run-123", golden_set="set", golden_set_hash="sha256:g")


def no_evidence(name: str, version: str, prompt_hash: str) -> Evidence | None:
    return None


def has_evidence(name: str, version: str, prompt_hash: str) -> Evidence | None:
    return EVIDENCE


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    root = tmp_path / "prompts"
    # the test's project already holds a copy of rag_answer (conftest.isolated_home)
    return PromptStore(root)


def manifest_bytes(store: PromptStore) -> bytes:
    return (store.folder("rag_answer") / "prompt.yaml").read_bytes()


def test_new_scaffolds_a_draft_copy(store: PromptStore) -> None:
    path = Lifecycle(store).new("rag_answer", "v2")
    assert path.name == "v3.jinja2"
    assert path.read_bytes() == (store.folder("rag_answer") / "v2.jinja2").read_bytes()
    assert not store.get("rag_answer@v3").published
    assert "v3" not in store.manifest("rag_answer").versions


def test_publish_freezes_once(store: PromptStore) -> None:
    lifecycle = Lifecycle(store, on_change=lambda name: None)
    path = lifecycle.new("rag_answer", "v1")
    path.write_text(path.read_text().replace("only the sources", "only the sources given"))
    record = lifecycle.publish("rag_answer", "v3", by="ana")
    assert record.hash == content_hash(path.read_bytes())
    manifest = store.manifest("rag_answer")
    assert manifest.versions["v3"].hash == record.hash
    assert manifest.history[-1].action == "publish"
    assert manifest.history[-1].by == "ana"
    before = manifest_bytes(store)
    with pytest.raises(PromptError, match="already published"):
        lifecycle.publish("rag_answer", "v3")
    assert manifest_bytes(store) == before


def test_publish_refuses_broken_drafts(store: PromptStore) -> None:
    before = manifest_bytes(store)
    folder = store.folder("rag_answer")
    (folder / "v3.jinja2").write_text("no front matter at all")
    with pytest.raises(PromptFileError, match="front matter"):
        Lifecycle(store).publish("rag_answer", "v3")
    (folder / "v3.jinja2").write_text(
        (folder / "v1.jinja2").read_text().replace("{{ question }}", "{{ question.__class__ }}")
    )
    with pytest.raises(PromptError, match="private attributes"):
        Lifecycle(store).publish("rag_answer", "v3")
    with pytest.raises(PromptFileError, match="not found"):
        Lifecycle(store).publish("rag_answer", "v9")
    assert manifest_bytes(store) == before


def test_promote_needs_evidence(store: PromptStore) -> None:
    lifecycle = Lifecycle(store)
    before = manifest_bytes(store)
    with pytest.raises(PromptError, match="no passing eval-gate run for rag_answer@v2"):
        lifecycle.promote("rag_answer", "v2", find_evidence=no_evidence)
    with pytest.raises(PromptError, match="--reason"):
        lifecycle.promote("rag_answer", "v2", find_evidence=no_evidence, force=True)
    assert manifest_bytes(store) == before

    entry = lifecycle.promote("rag_answer", "v2", find_evidence=has_evidence, by="ana")
    manifest = store.manifest("rag_answer")
    assert manifest.aliases["production"] == "v2"
    assert manifest.versions["v2"].eval_run == "run-123"
    assert (entry.from_version, entry.to_version, entry.evidence) == ("v1", "v2", "run-123")
    assert not entry.forced
    assert store.resolve("rag_answer") == ("rag_answer", "v2")


def test_forced_promotion_is_recorded(store: PromptStore) -> None:
    entry = Lifecycle(store).promote(
        "rag_answer", "v2", find_evidence=no_evidence, force=True, reason="hotfix for incident 42"
    )
    last = store.manifest("rag_answer").history[-1]
    assert entry.forced
    assert last.forced
    assert last.reason == "hotfix for incident 42"
    assert last.evidence is None


def test_promote_refuses_drafts_edits_and_noops(store: PromptStore) -> None:
    lifecycle = Lifecycle(store)
    lifecycle.new("rag_answer", "v1")
    before = manifest_bytes(store)
    with pytest.raises(PromptError, match="not published"):
        lifecycle.promote("rag_answer", "v3", find_evidence=has_evidence)
    with pytest.raises(PromptError, match="already points at v1"):
        lifecycle.promote("rag_answer", "v1", find_evidence=has_evidence)
    v2 = store.folder("rag_answer") / "v2.jinja2"
    v2.write_text(v2.read_text() + "\n")
    with pytest.raises(PromptError, match="edited after publishing"):
        lifecycle.promote("rag_answer", "v2", find_evidence=has_evidence)
    assert manifest_bytes(store) == before


def test_rollback_walks_back_the_promotion_stack(store: PromptStore) -> None:
    lifecycle = Lifecycle(store)
    before = manifest_bytes(store)
    with pytest.raises(PromptError, match="no previous version"):
        lifecycle.rollback("rag_answer")
    assert manifest_bytes(store) == before
    lifecycle.promote("rag_answer", "v2", find_evidence=has_evidence)
    entry = lifecycle.rollback("rag_answer", by="ops")
    assert (entry.from_version, entry.to_version, entry.action) == ("v2", "v1", "rollback")
    assert store.manifest("rag_answer").aliases["production"] == "v1"
    with pytest.raises(PromptError, match="no previous version"):
        lifecycle.rollback("rag_answer")
    with pytest.raises(PromptError, match="no previous version"):
        lifecycle.rollback("rag_answer", alias="staging")


def test_promotion_is_atomic(store: PromptStore, monkeypatch: pytest.MonkeyPatch) -> None:
    before = manifest_bytes(store)

    def crash(src: str, dst: str) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        Lifecycle(store).promote("rag_answer", "v2", find_evidence=has_evidence)
    monkeypatch.undo()
    assert manifest_bytes(store) == before
    assert not list(store.folder("rag_answer").glob("*.tmp"))


def test_diff_reports_text_and_variables(store: PromptStore) -> None:
    folder = store.folder("rag_answer")
    text = (
        (folder / "v2.jinja2")
        .read_text()
        .replace("  contexts:", "  tone: {type: str, required: false}\n  contexts:", 1)
    )
    (folder / "v3.jinja2").write_text(text)
    result = diff_versions(store, "rag_answer", "v1", "v3")
    assert result.added_variables == ["tone"]
    assert result.removed_variables == []
    assert result.changed_variables == []
    assert "parameters" in result.changed_metadata
    assert "description" in result.changed_metadata
    assert "+++ rag_answer@v3" in result.text
    assert "contexts[:3]" in result.text


def test_registry_round_trip(store: PromptStore, tmp_path: Path) -> None:
    """A service without the checkout rebuilds the exact store from MLflow."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mirror = RegistryMirror(uri)
    assert mirror.sync(store, "rag_answer") == {"production": 1, "staging": 2}
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.genai.load_prompt("prompts:/rag_answer@production")
    assert loaded.template == (store.folder("rag_answer") / "v1.jinja2").read_text()
    assert loaded.tags["ragwright.hash"] == store.manifest("rag_answer").versions["v1"].hash

    Lifecycle(store, on_change=lambda name: mirror.sync(store, name)).promote(
        "rag_answer", "v2", find_evidence=has_evidence
    )
    assert mlflow.genai.load_prompt("prompts:/rag_answer@production").version == 2
    # evidence recorded at promotion reaches the already-registered version's tags
    assert (
        mlflow.genai.load_prompt("prompts:/rag_answer@production").tags["ragwright.eval_run"]
        == "run-123"
    )
    assert mirror.sync(store, "rag_answer")["production"] == 2  # idempotent: no new versions

    rebuilt = mirror.materialize("rag_answer", tmp_path / "cache")
    inputs = {"question": "q?", "contexts": [{"source": "a.md", "title": "A", "text": "t"}]}
    assert (
        rebuilt.render("rag_answer", inputs).messages == store.render("rag_answer", inputs).messages
    )
    assert rebuilt.render("rag_answer", inputs).hash == store.get("rag_answer@v2").hash


def test_registry_refuses_a_changed_published_version(store: PromptStore, tmp_path: Path) -> None:
    mirror = RegistryMirror(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mirror.sync(store, "rag_answer")
    path = store.folder("rag_answer") / "prompt.yaml"
    manifest = read_manifest(path)
    manifest.versions["v1"] = VersionRecord(
        hash="sha256:" + "0" * 64, published_at=datetime.now(UTC)
    )
    write_manifest(path, manifest)
    with pytest.raises(PromptError, match="must never change"):
        mirror.sync(store, "rag_answer")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return conftest.run_cli(*args, cwd=cwd, env={"RAGWRIGHT_ACTOR": "ci-bot"})


@pytest.mark.slow
def test_prompt_pr_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """new → publish → promote refused → gate passes → promote → history → rollback."""
    prompts = tmp_path / "prompts"
    write_docs(tmp_path / "docs")
    golden = tmp_path / "set.jsonl"
    write_golden(golden)
    monkeypatch.setenv("RAGWRIGHT_PROMPTS_DIR", str(prompts))
    monkeypatch.setenv("RAGWRIGHT_GOLDEN_SET", str(golden))
    assert run_cli("index", "run", cwd=tmp_path).returncode == 0

    created = run_cli("prompts", "new", "rag_answer", "--from", "v1", cwd=tmp_path)
    assert created.returncode == 0
    assert "v3.jinja2" in created.stdout
    assert run_cli("prompts", "publish", "rag_answer", "v3", cwd=tmp_path).returncode == 0
    digest = hashlib.sha256((prompts / "rag_answer" / "prompt.yaml").read_bytes()).hexdigest()

    refused = run_cli("prompts", "promote", "rag_answer", "v3", cwd=tmp_path)
    assert refused.returncode == 2
    assert "no passing eval-gate run" in refused.stderr
    assert (
        hashlib.sha256((prompts / "rag_answer" / "prompt.yaml").read_bytes()).hexdigest() == digest
    )

    gate = run_cli("eval", "gate", "--candidate", "rag_answer@v3", cwd=tmp_path)
    assert gate.returncode == 0, gate.stdout + gate.stderr

    promoted = run_cli("prompts", "promote", "rag_answer", "v3", "--to", "production", cwd=tmp_path)
    assert promoted.returncode == 0, promoted.stderr
    manifest = yaml.safe_load((prompts / "rag_answer" / "prompt.yaml").read_text())
    assert manifest["aliases"]["production"] == "v3"
    last = manifest["history"][-1]
    assert last["by"] == "ci-bot"
    assert last["evidence"]
    assert not last["forced"]
    assert manifest["versions"]["v3"]["eval_run"] == last["evidence"]

    history = run_cli("prompts", "history", "rag_answer", cwd=tmp_path)
    assert "promote" in history.stdout
    assert "ci-bot" in history.stdout
    back = run_cli("prompts", "rollback", "rag_answer", cwd=tmp_path)
    assert back.returncode == 0
    assert "v3 -> v1" in back.stdout
    again = run_cli("prompts", "rollback", "rag_answer", cwd=tmp_path)
    assert again.returncode == 2
    assert "no previous version" in again.stderr

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}")
    assert (
        mlflow.genai.load_prompt("prompts:/rag_answer@production").tags["ragwright.version"] == "v1"
    )


def test_inspection_commands(
    store: PromptStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from ragwright.cli.app import app

    monkeypatch.setenv("RAGWRIGHT_PROMPTS_DIR", str(store.root))
    runner = CliRunner()
    listed = runner.invoke(app, ["prompts", "list"], terminal_width=200)
    assert listed.exit_code == 0
    assert "production→v1" in listed.stdout
    assert "staging→v2" in listed.stdout
    shown = runner.invoke(app, ["prompts", "show", "rag_answer:staging"], terminal_width=200)
    assert "rag_answer@v2 published" in shown.stdout
    assert "contexts[:3]" in shown.stdout
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"contexts": [{"source": "s.md", "title": "S", "text": "T."}]}))
    rendered = runner.invoke(
        app,
        [
            "prompts",
            "render",
            "rag_answer@v1",
            "--inputs-file",
            str(inputs),
            "--input",
            "question=Why?",
        ],
        terminal_width=200,
    )
    assert rendered.exit_code == 0
    assert '<source id="s.md" title="S">' in rendered.stdout
    assert "<question>Why?</question>" in rendered.stdout
    diffed = runner.invoke(app, ["prompts", "diff", "rag_answer", "v1", "v2"], terminal_width=200)
    assert "changed metadata: description, parameters" in diffed.stdout
