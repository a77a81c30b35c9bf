"""Usage mistakes anywhere in the command tree: one line, exit 2, never a traceback.

The walk runs ``main`` in-process (the real error mapping) over every command of the
real typer app, so a command added later is covered without touching this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer

from ragwright.cli.app import app, main
from ragwright.cli.usage import command_paths
from tests.conftest import run_cli

ROOT = typer.main.get_command(app)


def leaves() -> list[tuple[str, ...]]:
    """Every runnable command (not a group), as its argv path."""
    found = []
    for path in command_paths(ROOT):
        command = ROOT
        for part in path.split():
            command = command.commands[part]  # type: ignore[attr-defined]
        if not hasattr(command, "commands"):
            found.append(tuple(path.split()))
    return found


def needs_input(path: tuple[str, ...]) -> bool:
    command = ROOT
    for part in path:
        command = command.commands[part]  # type: ignore[attr-defined]
    return any(p.required for p in command.params)


def run_main(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["ragwright", *argv])
    code: object = 0
    try:
        main()
    except SystemExit as exited:
        code = exited.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 1), out, err


def test_the_walk_covers_every_group() -> None:
    groups = {path[0] for path in leaves()}
    assert {"index", "prompts", "eval", "costs", "ask", "init", "demo"} <= groups
    assert len(leaves()) >= 25


@pytest.mark.parametrize("path", leaves(), ids=" ".join)
def test_bad_option_is_one_line_exit_2(
    path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main([*path, "--no-such-option"], monkeypatch, capsys)
    assert code == 2, err
    assert "Traceback" not in out + err
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: ragwright {' '.join(path)}: No such option: --no-such-option")
    assert f"`ragwright {' '.join(path)} --help`" in line


@pytest.mark.parametrize("path", [p for p in leaves() if needs_input(p)], ids=" ".join)
def test_missing_argument_is_one_line_exit_2(
    path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(list(path), monkeypatch, capsys)
    assert code == 2, err
    assert "Traceback" not in out + err
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: ragwright {' '.join(path)}: Missing")


@pytest.mark.parametrize(
    ("argv", "fix"),
    [
        (["build"], "did you mean 'index run'?"),
        (["index", "stats"], "did you mean 'index status'?"),
        (["prompts", "lsit"], "did you mean 'prompts list'?"),
        (["costs", "report", "--format", "yaml"], "choose table, json or csv"),
        (["costs", "report", "--by", "nonsense"], "choose one of model"),
    ],
)
def test_usage_errors_name_the_fix(
    argv: list[str],
    fix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_main(argv, monkeypatch, capsys)
    assert code == 2
    [line] = err.strip().splitlines()
    assert fix in line
    assert "Traceback" not in out + err


def test_version(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["--version"], monkeypatch, capsys)
    assert code == 0
    assert out.startswith("ragwright ")


def test_user_error_traceback_only_with_debug(tmp_path: Path) -> None:
    plain = run_cli("prompts", "show", "rag_answer@v99", cwd=tmp_path)
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr
    [line] = plain.stderr.strip().splitlines()
    assert line.startswith("error:")
    assert "v99" in line

    for argv, env in ((("--debug",), {}), ((), {"RAGWRIGHT_DEBUG": "1"})):
        debug = run_cli(*argv, "prompts", "show", "rag_answer@v99", cwd=tmp_path, env=env)
        assert debug.returncode == 2
        assert "Traceback" in debug.stderr
        assert debug.stderr.strip().splitlines()[-1] == line
