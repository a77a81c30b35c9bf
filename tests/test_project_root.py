"""The project root: found upward like git's, every relative path anchored at it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragwright.errors import ConfigError, ProjectNotFoundError
from ragwright.project import find_project_root, project_root
from ragwright.settings import Settings, load_settings
from tests.conftest import run_cli


@pytest.fixture
def nowhere(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with no ragwright.toml in it or above it (tmp_path itself is a project)."""
    folder = tmp_path_factory.mktemp("nowhere")
    monkeypatch.chdir(folder)
    return folder


def test_the_nearest_project_upward_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inner = tmp_path / "services" / "bot"
    (inner / "src" / "deep").mkdir(parents=True)
    (inner / "ragwright.toml").write_text('docs_dir = "kb"\n', encoding="utf-8")

    assert find_project_root(inner / "src" / "deep") == inner
    assert find_project_root(tmp_path / "services") == tmp_path  # the test's own project
    monkeypatch.chdir(inner / "src" / "deep")
    settings = load_settings()
    assert settings.project_root == inner
    assert settings.docs_dir == inner / "kb"


def test_relative_paths_resolve_against_the_root_from_any_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ragwright.toml").write_text('golden_set = "sets/main.jsonl"\n', "utf-8")
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    monkeypatch.setenv("RAGWRIGHT_HOME", "state")
    monkeypatch.setenv("RAGWRIGHT_DOCS_DIR", "../kb")

    settings = load_settings(prompts_dir=Path("store"))

    root = tmp_path.resolve()
    assert settings.home == root / "state"
    assert settings.docs_dir == root / "../kb"
    assert settings.prompts_dir == root / "store"
    assert settings.golden_set == root / "sets" / "main.jsonl"
    assert settings.tracking_uri == f"sqlite:///{root / 'state' / 'mlflow.db'}"


def test_an_explicit_root_serves_a_service_from_anywhere(
    tmp_path: Path, nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "svc"
    project.mkdir()
    (project / "ragwright.toml").write_text("top_k = 3\n", encoding="utf-8")

    settings = Settings(project_root=project)
    assert (settings.project_root, settings.top_k) == (project.resolve(), 3)
    monkeypatch.setenv("RAGWRIGHT_PROJECT_ROOT", str(project))
    assert load_settings().top_k == 3
    with pytest.raises(ProjectNotFoundError, match="is not a folder"):
        Settings(project_root=project / "missing")


def test_outside_a_project_the_error_names_init(nowhere: Path) -> None:
    with pytest.raises(ProjectNotFoundError, match=r"ragwright init") as caught:
        load_settings()
    assert str(nowhere.resolve()) in str(caught.value)
    with pytest.raises(ProjectNotFoundError):
        project_root()


def test_a_broken_project_file_is_named_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ragwright.toml"
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")

    path.write_text('top_k = 5\ndocs_dir = "unclosed\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}: invalid TOML: .*line 2"):
        load_settings()

    path.write_text('docs_dir = "d"\n\ntop_k = "many"\nretreival = "dense"\n', "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"{path}:3 (field 'top_k')" in message
    assert f"{path}:4 (field 'retreival'): Extra inputs are not permitted" in message

    path.write_text('project_root = "/elsewhere"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}:1: project_root cannot be set here"):
        load_settings()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_project_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ragwright.toml"
    path.chmod(0)
    try:
        with pytest.raises(ConfigError, match=rf"{path}: cannot read the project file"):
            load_settings()
    finally:
        path.chmod(0o644)


def test_cli_outside_a_project(nowhere: Path) -> None:
    for command in (["config"], ["prompts", "list"], ["eval", "run"], ["costs", "report"]):
        result = run_cli(*command, cwd=nowhere)
        assert result.returncode == 2, (command, result.stderr)
        assert "not inside a ragwright project" in result.stderr
        assert "ragwright init" in result.stderr
        assert "Traceback" not in result.stderr
    assert run_cli("--help", cwd=nowhere).returncode == 0
    assert run_cli("init", "--help", cwd=nowhere).returncode == 0
    assert not list(nowhere.iterdir()), "a refused command left files behind"


def test_config_prints_the_root_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    result = run_cli("config", cwd=tmp_path / "docs" / "deep")
    assert result.returncode == 0, result.stderr
    assert f'"project_root": "{tmp_path.resolve()}"' in result.stdout
    assert not (tmp_path / "docs" / "deep" / ".ragwright").exists()
