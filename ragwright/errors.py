"""Every exception ragwright raises on purpose.

The tree separates what the *user* can fix (a broken file, a bad reference)
from what a *provider* did (an HTTP status, a timeout), so the CLI can map the
first to exit code 2 with a precise message and retry or report the second::

    RagwrightError
    ├── UserError                      exit code 2; message says what, where, and the fix
    │   ├── ConfigError                settings or ragwright.toml
    │   │   └── ProjectNotFoundError   no ragwright.toml here or above (run `ragwright init`)
    │   ├── InputFileError             a file we read: .path, .line, .field
    │   │   ├── GoldenSetError         a golden set line
    │   │   └── PromptFileError        a prompt version file or prompt.yaml
    │   ├── PromptError                prompt lookup and lifecycle (unknown alias, ...)
    │   │   ├── ReadOnlyPromptError    a change to a built-in prompt (copy it first)
    │   │   ├── DraftPromptError       serving asked for an unpublished version (publish it)
    │   │   ├── PromptIntegrityError   a published version (or what it includes) was edited
    │   │   ├── StoreBusyError         another process holds the store's lock too long
    │   │   ├── RenderError            missing/unknown/mistyped variable at render time
    │   │   └── TemplateSecurityError  the sandbox refused an attribute, call or include
    │   │       └── RenderLimitError   a render over render_timeout_s or render_max_chars
    │   ├── IndexStateError            the vector index is missing or inconsistent
    │   │   ├── IndexStoreError        index.db or Chroma failed (disk full, corrupt): .path, .kind
    │   │   ├── IngestBusyError        another ingest holds the ingest lock: .pid, .since
    │   │   └── EmbedderMismatchError  a query embedder is not the one the index was built with
    │   ├── ScaffoldConflictError      `ragwright init` would overwrite files: .conflicts
    │   └── GuardrailBlockedError      a guardrail in block mode refused a question: .findings
    ├── BudgetExceededError            a hard budget is spent: .budget, .period (exit 1, HTTP 429)
    └── ProviderError                  a model backend failed: .provider, .model
        ├── ProviderHTTPError          non-2xx answer: .status_code, .body
        ├── ProviderResponseError      a 2xx answer that is not a completion (HTML, bad JSON,
        │                              no `choices`): .status_code, .reason, .excerpt
        ├── ProviderTimeoutError       no answer in time
        └── ModelRequestsBlockedError  network model called while tests forbid it

Vendor SDK exceptions are converted at one boundary (``providers/openai_compat``);
nothing above that layer catches ``openai.*`` errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "BudgetExceededError",
    "ConfigError",
    "DraftPromptError",
    "EmbedderMismatchError",
    "GoldenSetError",
    "GuardrailBlockedError",
    "IndexStateError",
    "IndexStoreError",
    "IngestBusyError",
    "InputFileError",
    "ModelRequestsBlockedError",
    "ProjectNotFoundError",
    "PromptError",
    "PromptFileError",
    "PromptIntegrityError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderResponseError",
    "ProviderTimeoutError",
    "RagwrightError",
    "ReadOnlyPromptError",
    "RenderError",
    "RenderLimitError",
    "ScaffoldConflictError",
    "StoreBusyError",
    "TemplateSecurityError",
    "UserError",
]


class RagwrightError(Exception):
    """Base of every error ragwright raises deliberately."""


class UserError(RagwrightError):
    """Something the user can fix; the CLI prints it and exits with code 2."""

    exit_code = 2


class ConfigError(UserError):
    """Invalid settings (environment, ``ragwright.toml``)."""


class ProjectNotFoundError(ConfigError):
    """No project root: no ``ragwright.toml`` in the working directory or above it."""


class InputFileError(UserError):
    """A file we read is unusable; the message names the file, line and field."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.field = field
        where = str(self.path)
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f" (field '{field}')"
        super().__init__(f"{where}: {message}")
        self.detail = message


class GoldenSetError(InputFileError):
    """A golden set line is not JSON or does not validate."""


class PromptFileError(InputFileError):
    """A prompt version file or ``prompt.yaml`` is malformed."""


class PromptError(UserError):
    """A prompt reference, alias or lifecycle step cannot be honoured."""


class ReadOnlyPromptError(PromptError):
    """A lifecycle change was asked of a built-in prompt, which lives in the package."""


class DraftPromptError(PromptError):
    """Serving asked for a draft; only published (hash-recorded) versions serve."""


class PromptIntegrityError(PromptError):
    """A published version's file, or a version it includes, no longer has its recorded hash."""


class StoreBusyError(PromptError):
    """Another process held the prompt store's lock for longer than we wait."""


class RenderError(PromptError):
    """Inputs do not satisfy a prompt version's declared variables."""


class TemplateSecurityError(PromptError):
    """The Jinja sandbox blocked an unsafe attribute or call (template injection)."""


class RenderLimitError(TemplateSecurityError):
    """A render ran past ``render_timeout_s`` or built a value over ``render_max_chars``.

    A template that loops or grows without bound is a denial of service, whether
    its author meant it or not; the message names the limit and its setting.
    """


class IndexStateError(UserError):
    """The vector index is missing, empty or inconsistent with its records."""


class IndexStoreError(IndexStateError):
    """A store of the index (``index.db``, Chroma) failed: the message names it and the fix.

    ``kind`` is what went wrong, so callers can act on it without parsing the message:
    ``"full"`` (no space left), ``"corrupt"`` (the file is damaged), ``"locked"``,
    ``"readonly"`` or ``"other"``. Raised at the store boundary in place of the raw
    ``sqlite3`` and ``chromadb`` exceptions, whose tracebacks say nothing a user can act on.
    """

    def __init__(self, message: str, *, path: Path | str, kind: str = "other") -> None:
        self.path = path
        self.kind = kind
        super().__init__(message)


class IngestBusyError(IndexStateError):
    """Another ingest of the same project holds the ingest lock; nothing was changed.

    Two ingests writing one index at once do all the work twice and can interleave
    so that an older document version serves while the record says it is current.
    """

    def __init__(self, lock: Path, *, pid: int | None, since: str | None) -> None:
        self.pid = pid
        self.since = since
        holder = f"pid {pid if pid is not None else 'unknown'}, since {since or 'unknown'}"
        super().__init__(f"{lock}: another ingest is running ({holder}); wait for it or stop it")


class EmbedderMismatchError(IndexStateError):
    """Queries would be embedded by another model than the serving index's vectors.

    Their cosine scores would be meaningless (or Chroma would refuse another
    dimension deep inside a query). ``index_model`` built the index; ``query_model``
    is the configured one. Reindex, or set ``embedding_model`` back.
    """

    def __init__(self, *, index: str, index_model: str, query_model: str) -> None:
        self.index_model = index_model
        self.query_model = query_model
        super().__init__(
            f"index '{index}' was built with embedding_model {index_model}, but queries would"
            f" be embedded with {query_model}; run `ragwright index run` to build an index"
            f' with {query_model}, or set embedding_model = "{index_model}"'
        )


class ScaffoldConflictError(UserError):
    """``ragwright init`` found files it would overwrite; it wrote nothing."""

    def __init__(self, root: Path, conflicts: Sequence[Path], *, folders: bool = False) -> None:
        self.conflicts = list(conflicts)
        names = ", ".join(
            p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)
            for p in self.conflicts
        )
        if folders:
            message = (
                f"{root}: init needs folders where files are ({names}); nothing was written."
                " Move them away first"
            )
        else:
            message = (
                f"{root}: {len(self.conflicts)} file(s) exist that init would overwrite"
                f" ({names}); nothing was written. Move them away, or pass --force to"
                " overwrite them"
            )
        super().__init__(message)


class GuardrailBlockedError(UserError):
    """A guardrail in block mode refused the question; nothing reached a model.

    Input checks refuse before retrieval; ``retrieved_injection`` refuses after it,
    when a retrieved chunk carries planted instructions.

    ``findings`` are the guard's findings (``ragwright.rag.guard.GuardFinding``),
    which name the check and the kinds found, never the offending values.
    """

    exit_code = 1  # a refusal, like a failed gate: the tool worked

    def __init__(self, message: str, findings: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.findings = list(findings)


class BudgetExceededError(RagwrightError):
    """A hard budget is spent: the call was refused before reaching the provider.

    A refusal, not a mistake: the CLI exits 1 and the server answers 429 with a
    ``Retry-After`` up to the end of ``period`` (``daily`` or ``monthly``, UTC).
    """

    exit_code = 1

    def __init__(self, message: str, *, budget: str | None = None, period: str | None = None):
        super().__init__(message)
        self.budget = budget
        self.period = period


class ProviderError(RagwrightError):
    """A model backend failed after the retries it was allowed."""

    def __init__(self, message: str, *, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        super().__init__(f"{provider}/{model}: {message}")


class ProviderHTTPError(ProviderError):
    """The backend answered with a non-success HTTP status."""

    def __init__(self, *, provider: str, model: str, status_code: int, body: str) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(f"HTTP {status_code}: {body[:300]}", provider=provider, model=model)


class ProviderResponseError(ProviderError):
    """The backend answered with a success status but not with a usable completion.

    Proxies and gateways do this (an HTML login or error page behind a 200), as do
    half-compatible servers (JSON without ``choices``). ``excerpt`` is the start of
    the body with whitespace collapsed and anything key-like masked, so the
    message can go to a log or a CI page.
    """

    def __init__(
        self, *, provider: str, model: str, status_code: int, reason: str, excerpt: str
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.excerpt = excerpt
        super().__init__(
            f"malformed reply (HTTP {status_code}): {reason}; body starts {excerpt!r}."
            " Check that the base URL points at an OpenAI-compatible /v1 endpoint",
            provider=provider,
            model=model,
        )


class ProviderTimeoutError(ProviderError):
    """The backend did not answer within the configured timeout."""


class ModelRequestsBlockedError(ProviderError):
    """A network model was called while ``ALLOW_MODEL_REQUESTS`` is off (tests)."""


# -- production traces (ragwright/traces) ------------------------------------------------------
class TraceNotFoundError(UserError):
    """No trace has this request id (feedback or a label for an unknown id: HTTP 404)."""


class FeedbackConflictError(UserError):
    """The request already has other feedback; changing it must be asked for (HTTP 409)."""


class MonitorThresholdError(RagwrightError):
    """``ragwright monitor check``: a ``[monitor]`` threshold is crossed (exit 1)."""

    exit_code = 1


__all__ += ["FeedbackConflictError", "MonitorThresholdError", "TraceNotFoundError"]
