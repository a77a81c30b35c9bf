"""Entry point of the ``ragwright`` command.

Heavy libraries (torch, chromadb, mlflow, prefect) are imported inside the
commands, so ``ragwright --help`` answers instantly. User errors print one
clear message and exit with code 2; tracebacks are for bugs. Every line that
leaves (errors, tracebacks, log records) passes :mod:`ragwright.redact`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from ragwright.cli import costs as costs_cli
from ragwright.cli import eval as eval_cli
from ragwright.cli import index as index_cli
from ragwright.cli import monitor as monitor_cli
from ragwright.cli import project as project_cli
from ragwright.cli import prompts as prompts_cli
from ragwright.cli import traces as traces_cli
from ragwright.cli.output import console, err_console, findings_as_output

if TYPE_CHECKING:
    from ragwright.rag.guard import Guard
    from ragwright.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="ragwright",
    help="LLMOps for RAG: versioned prompts, a fresh index, calibrated quality gates, costs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(index_cli.app, name="index")
app.add_typer(prompts_cli.app, name="prompts")
app.add_typer(eval_cli.app, name="eval")
app.add_typer(costs_cli.app, name="costs")
app.add_typer(traces_cli.app, name="traces")
app.add_typer(monitor_cli.app, name="monitor")
app.command()(project_cli.init)
app.command()(project_cli.demo)

_debug = {"on": False}  # set by --debug or RAGWRIGHT_DEBUG=1: tracebacks for every error


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            console.print(f"ragwright {version('ragwright')}", highlight=False)
        except PackageNotFoundError:  # a source checkout that was never installed
            console.print("ragwright (not installed)", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Print a traceback for every error (also RAGWRIGHT_DEBUG=1)."),
    ] = False,
) -> None:
    """LLMOps for RAG: versioned prompts, a fresh index, calibrated quality gates, costs."""
    _debug["on"] = _debug["on"] or debug


@app.command()
def config() -> None:
    """Print the effective settings (environment, ragwright.toml, defaults); secrets masked.

    ``project_root`` is the folder whose ragwright.toml was read; every path is absolute.
    """
    import json

    from ragwright.settings import load_settings

    console.print_json(json.dumps(load_settings().masked(), default=str))


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    prompt: Annotated[
        str | None, typer.Option(help="Prompt reference, e.g. rag_answer@v2.")
    ] = None,
    k: Annotated[int | None, typer.Option("-k", help="Number of chunks to retrieve.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full answer as JSON.")] = False,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer's tokens as they arrive.")
    ] = False,
) -> None:
    """Answer one question from the index with the RAG chain."""
    import json

    from ragwright.errors import UserError
    from ragwright.rag.chain import RagChain
    from ragwright.settings import load_settings

    if not _is_utf8(question):
        raise UserError("the question is not valid UTF-8 text; check the terminal's encoding")
    settings = load_settings()
    findings_as_output()
    chain = RagChain.from_settings(settings, prompt=prompt, guard=_guard(settings))
    load_ms = chain.warm() * 1000  # so latency_ms measures the call, not a model load
    if stream:
        from ragwright.cli.stream import print_stream

        answer = print_stream(console, chain, {"question": question, "k": k}, quiet=as_json)
    else:
        answer = chain.invoke({"question": question, "k": k})
    if as_json:
        console.print_json(json.dumps({**answer.model_dump(mode="json"), "load_ms": load_ms}))
        return
    if not stream:
        console.print(answer.answer, markup=False, highlight=False)
    first = f" · first token {answer.ttft_ms:.0f} ms" if answer.ttft_ms is not None else ""
    console.print(
        f"[dim]sources: {', '.join(answer.citations) or 'none'} · {answer.prompt} · "
        f"{answer.model} · {answer.latency_ms:.0f} ms{first}"
        f" (models loaded in {load_ms:.0f} ms)[/dim]"
    )
    for finding in answer.findings:
        kinds = f" ({', '.join(finding.kinds)})" if finding.kinds else ""
        console.print(
            f"[yellow]guardrail {finding.check} ({finding.action}):"
            f" {finding.message}{kinds}[/yellow]",
            highlight=False,
        )


def _is_utf8(text: str) -> bool:
    """False for arguments the OS could not decode (they arrive as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _guard(settings: Settings) -> Guard | None:
    """The guardrails ``ask`` and ``serve`` run with, unless ``[guardrails] enabled = false``."""
    if not settings.guardrails.enabled:
        return None
    from ragwright.guardrails import Guardrails

    return Guardrails.from_settings(settings)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; 127.0.0.1 = this machine.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
) -> None:
    """Serve the RAG chain over HTTP (POST /v1/answer, GET /healthz)."""
    import contextlib

    import uvicorn

    from ragwright.evals.online import start_online_eval
    from ragwright.rag.chain import RagChain
    from ragwright.rag.serve_logging import logging_off_the_loop
    from ragwright.rag.server import ServeOptions, create_app, log_config
    from ragwright.settings import load_settings

    settings = load_settings()
    chain = RagChain.from_settings(settings, guard=_guard(settings))
    chain.warm()  # models load now, not inside the first requests' latency
    app = create_app(chain, ServeOptions.from_settings(settings))
    start_online_eval(settings)  # scores traces in the background ([online_eval])
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=log_config()))
    # the access log is written by a thread, not the event loop; a second Ctrl-C during
    # shutdown ends it quietly, as in uvicorn.run
    with logging_off_the_loop(), contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:  # it logged why (the port is taken, say); uvicorn.run exits 3
        sys.exit(3)


def main() -> None:
    """Run the CLI; map every error to one redacted line and an exit code.

    Usage mistakes and user errors exit 2, provider errors 2, refusals (a spent
    hard budget, a guardrail block) 1. Anything else is a bug: its traceback is
    printed, redacted like every other line that leaves the process. ``--debug``
    or ``RAGWRIGHT_DEBUG=1`` add the traceback to the one line of any error.
    """
    import os

    from rich.markup import escape

    from ragwright.cli.usage import is_usage_error, usage_line
    from ragwright.errors import ProviderError, RagwrightError, UserError
    from ragwright.offline import apply_offline_defaults, quiet_library_logs
    from ragwright.redact import install_log_redaction, redact

    _debug["on"] = os.environ.get("RAGWRIGHT_DEBUG", "").strip().lower() in ("1", "true", "yes")
    apply_offline_defaults()
    quiet_library_logs()
    install_log_redaction()
    exit_on_sigterm()

    def traceback_if_debug(exc: BaseException) -> None:
        if _debug["on"]:
            import traceback

            sys.stderr.write(redact("".join(traceback.format_exception(exc))))

    def fail(label: str, exc: BaseException, code: int) -> NoReturn:
        traceback_if_debug(exc)
        # escaped: "[redacted]" (or any [text] in a message) is not rich markup
        message = escape(redact(str(exc)))
        err_console.print(f"[bold red]{label}:[/bold red] {message}", highlight=False)
        sys.exit(code)

    try:
        code = app(standalone_mode=False, prog_name="ragwright")
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as exc:
        fail("error", exc, exc.exit_code)
    except ProviderError as exc:
        fail("model provider error", exc, 2)
    except RagwrightError as exc:  # a refusal, e.g. BudgetExceededError: the tool worked
        fail("error", exc, getattr(exc, "exit_code", 1))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:
        if is_usage_error(exc):
            traceback_if_debug(exc)
            line = escape(redact(usage_line(exc, typer.main.get_command(app))))
            err_console.print(f"[bold red]error:[/bold red] {line}", highlight=False)
            sys.exit(getattr(exc, "exit_code", 2) or 2)
        import traceback

        sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        sys.exit(1)


def exit_on_sigterm() -> None:
    """Turn SIGTERM (``kill``, a container stop, a CI timeout) into a normal exit.

    Python's default for SIGTERM ends the process at once, skipping exit handlers,
    so the cost records still buffered (up to about a second) were lost; as
    ``SystemExit`` they are written by the cost writer's exit handler first.
    """
    import signal

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


if __name__ == "__main__":
    main()
