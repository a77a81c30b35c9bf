"""One settings model, read once at the edge (CLI, flow entry) and passed in.

Sources, highest priority first: explicit arguments, ``RAGWRIGHT_*`` environment
variables, the project's ``ragwright.toml``, defaults. The project root is the
nearest folder upward holding ``ragwright.toml`` (:mod:`ragwright.project`), and
every relative path, wherever it was set, resolves against that root, so a
command run from a subfolder reads and writes exactly what one run from the root
does. Moving from one machine to shared services (Chroma server, MLflow tracking
server, an OpenAI-compatible endpoint) changes settings, never code.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from ragwright.errors import ConfigError
from ragwright.project import PROJECT_FILE, project_root
from ragwright.redact import MASK, mask_url, register_secrets, secret_values

__all__ = [
    "LOCAL_PREFIX",
    "BudgetSettings",
    "GateSettings",
    "GuardrailSettings",
    "MetricSettings",
    "ModelPrice",
    "Settings",
    "load_settings",
]

LOCAL_PREFIX = "local/"
"""Model names with this prefix are served in-process, offline, at zero cost."""

PATH_FIELDS = ("home", "docs_dir", "prompts_dir", "golden_sets_dir", "golden_set")
"""Settings that name files or folders: relative values resolve against the project root."""


GuardMode = Literal["off", "warn", "redact", "block"]


class GuardrailSettings(BaseModel):
    """What each guardrail does when it fires (``[guardrails]`` in ragwright.toml).

    ``warn`` lets the request through and reports the finding; ``block`` refuses
    the question (input checks) or withholds the answer (output checks);
    ``redact`` (personal data only) replaces what was found with ``<KIND>``.
    Everything starts in ``warn``: see how often a check fires before it blocks.
    """

    model_config = {"extra": "forbid"}

    enabled: bool = Field(True, description="Guard `ragwright serve` and `ragwright ask`.")
    prompt_injection: GuardMode = "warn"
    pii_input: GuardMode = "warn"
    groundedness: GuardMode = "warn"
    pii_output: GuardMode = "warn"
    injection_threshold: float | None = Field(
        None, ge=0, le=1, description="P(injection) that fires; unset = the detector's own."
    )
    groundedness_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="P(unsupported) at which an answer is ungrounded; unset = the judge's own.",
    )
    pii_kinds: list[str] | None = Field(
        None, description="Kinds of personal data to look for; unset = every kind detected."
    )
    # -- issue 18: views, documents, backends (docs/guardrails.md) --
    injection_views: bool = Field(
        True, description="Also check normalised and decoded readings (leetspeak, base64, ...)."
    )
    retrieved_injection: Literal["off", "warn", "drop-chunk", "block"] = Field(
        "warn", description="Retrieved chunks carrying instructions: report, drop, or refuse."
    )
    scan_documents: bool = Field(
        True, description="Scan chunks for planted instructions at ingest; store the finding."
    )
    quarantine: bool = Field(False, description="Chunks flagged at ingest never reach the prompt.")
    unsupported_requests: Literal["off", "warn", "block"] = Field(
        "warn",
        description="Answers asking for credentials, payment or a link no clean source asks.",
    )
    pii_backend: Literal["builtin", "presidio"] = Field(
        "builtin", description="Personal data engine: built-in validators or Presidio."
    )
    prompt_injection_backend: Literal["builtin", "nemo"] = Field(
        "builtin", description="Injection check: the built-in detector or NeMo input rails."
    )
    nemo_output: Literal["off", "warn", "block"] = Field(
        "off", description="NeMo Guardrails output rails on each answer (needs nemo_config)."
    )
    nemo_config: str | None = Field(
        None, description="NeMo Guardrails config folder (config.yml, prompts.yml)."
    )

    @model_validator(mode="after")
    def _redact_only_for_pii(self) -> GuardrailSettings:
        for check in ("prompt_injection", "groundedness"):
            if getattr(self, check) == "redact":
                raise ValueError(f"guardrails.{check} cannot be 'redact' (only pii_* checks)")
        return self


class GateSettings(BaseModel):
    """Thresholds of the quality gate (``[gate]`` in ragwright.toml)."""

    model_config = {"extra": "forbid"}

    hallucination_rate_max: float = Field(0.10, ge=0, le=1)
    relevance_min: float = Field(3.0, ge=1, le=5)
    hallucination_margin: float = Field(0.05, ge=0, le=1)
    relevance_margin: float = Field(0.25, ge=0)
    recall_margin: float = Field(0.05, ge=0, le=1)
    correctness_margin: float = Field(
        0.05, ge=0, le=1, description="Allowed drop of mean agreement with reference answers (0-1)."
    )
    cost_margin: float = Field(
        0.10, ge=0, description="Allowed rise of mean cost per case, relative to the baseline."
    )
    latency_margin: float = Field(
        0.50, ge=0, description="Allowed rise of p95 chain latency, relative to the baseline."
    )
    latency_slack_ms: float = Field(
        250.0, ge=0, description="p95 rises below this many ms never fail (timer noise)."
    )
    min_judge_balanced_accuracy: float | None = Field(
        0.80,
        ge=0.5,
        le=1.0,
        description="Refuse to pass a gate whose judge has no calibration record this good.",
    )
    bootstrap_samples: int = Field(2000, ge=100)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    seed: int = 0
    latency_rule: Literal["auto", "on", "off"] = Field(
        "auto",
        description="The p95 latency rule: auto = on for endpoint models, off for local ones"
        " (a local CPU model's latency is machine noise, not a property of the prompt).",
    )


MetricKind = Literal["llm_judge", "python", "check"]
CheckName = Literal[
    "regex", "json_schema", "max_words", "cites_sources", "refuses_when_unanswerable"
]


class MetricSettings(BaseModel):
    """A custom metric (``[[metrics]]`` in ragwright.toml); see docs/metrics.md.

    ``kind`` picks the fields that apply: ``llm_judge`` (``prompt``, ``scale`` or
    ``labels``, optional ``model``), ``python`` (``function = "module:attribute"``),
    ``check`` (``check`` and its parameters). ``floor``, ``margin`` and ``gate`` make
    it a gate rule in the same table.
    """

    model_config = {"extra": "forbid"}

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Metric id, e.g. tone.")
    kind: MetricKind
    description: str = ""
    higher_is_better: bool = True
    scale: tuple[float, float] | None = Field(None, description="[lo, hi] of the metric value.")
    labels: dict[str, float] | None = Field(None, description="llm_judge: label -> value.")
    prompt: str | None = Field(None, description="llm_judge: rubric prompt reference.")
    model: str | None = Field(None, description="llm_judge: chat model (default judge_model).")
    samples: int = Field(1, ge=1, le=9, description="llm_judge: self-consistency samples.")
    function: str | None = Field(None, description="python: module:attribute.")
    check: CheckName | None = None
    pattern: str | None = Field(None, description="check regex: the regular expression.")
    must_match: bool = Field(True, description="check regex: false = must not match.")
    json_schema: dict[str, Any] | None = Field(None, description="check json_schema.")
    max_words: int | None = Field(None, ge=1, description="check max_words.")
    gate: bool = Field(True, description="Gate on this metric when floor or margin is set.")
    floor: float | None = Field(None, description="Candidate mean must be at least (or most).")
    margin: float | None = Field(None, ge=0, description="Allowed paired worsening.")

    @model_validator(mode="after")
    def _fields_of_kind(self) -> MetricSettings:
        needed = {
            "llm_judge": ("prompt",),
            "python": ("function",),
            "check": ("check",),
        }[self.kind]
        for field in needed:
            if getattr(self, field) is None:
                raise ValueError(f"metric '{self.name}' (kind {self.kind}) needs '{field}'")
        if self.kind == "llm_judge" and (self.scale is None) == (self.labels is None):
            raise ValueError(f"metric '{self.name}': give exactly one of 'scale' or 'labels'")
        if self.scale is not None and self.scale[0] >= self.scale[1]:
            raise ValueError(f"metric '{self.name}': scale must be [lo, hi] with lo < hi")
        wanted = {"regex": "pattern", "json_schema": "json_schema", "max_words": "max_words"}
        if self.check in wanted and getattr(self, wanted[self.check]) is None:
            raise ValueError(
                f"metric '{self.name}': check {self.check} needs '{wanted[self.check]}'"
            )
        return self


class ModelPrice(BaseModel):
    """USD per million tokens, overriding ``ragwright/pricing.yaml``."""

    model_config = {"extra": "forbid"}

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class BudgetSettings(BaseModel):
    """A spend limit over a calendar day or month (UTC), for one model, one tag, or all calls."""

    model_config = {"extra": "forbid"}

    name: str
    period: Literal["daily", "monthly"] = "daily"
    limit_usd: float = Field(gt=0)
    model: str | None = Field(None, description="e.g. gpt-4o-mini; unset = every model")
    tag: str | None = Field(None, description="key=value, e.g. team=search")
    hard: bool = Field(False, description="Refuse further calls once crossed (the chain raises).")
    warn_at: float = Field(0.8, gt=0, le=1, description="Warn from this share of the limit.")


class OnlineEvalSettings(BaseModel):
    """The online evaluator: scores served answers in the background (docs/monitoring.md)."""

    model_config = {"extra": "forbid"}

    enabled: bool = Field(True, description="Score traces while `ragwright serve` runs.")
    sample: float = Field(
        1.0, ge=0, le=1, description="Share of traces scored (the local judge costs nothing)."
    )
    interval_s: float = Field(2.0, gt=0, description="Seconds between looks for new traces.")
    metrics: list[str] | None = Field(
        None,
        description="Metrics scored besides the local judge: hallucination and relevance (the"
        " LLM judge, when judge_model is an endpoint) and [[metrics]] names; unset = all.",
    )
    llm_sample: float = Field(
        0.1, ge=0, le=1, description="Share of traces the LLM-judged metrics score (by id)."
    )
    daily_budget_usd: float = Field(
        0.0, ge=0, description="USD per UTC day for online LLM-judge calls; 0 = none."
    )
    daily_max_calls: int | None = Field(
        None, ge=1, description="LLM-judge calls per UTC day; needed for an unpriced judge model."
    )


class MonitorSettings(BaseModel):
    """Thresholds `ragwright monitor check` fails on (each unset = not checked)."""

    model_config = {"extra": "forbid"}

    max_hallucination_rate: float | None = Field(None, ge=0, le=1)
    max_negative_feedback_rate: float | None = Field(None, ge=0, le=1)
    min_answered_rate: float | None = Field(None, ge=0, le=1)
    min_relevance: float | None = Field(None, ge=1, le=5)
    max_retrieval_score_drop: float | None = Field(
        None, ge=0, description="Largest fall of the mean top retrieval score after a reindex."
    )
    max_p95_latency_ms: float | None = Field(None, gt=0)
    window_days: int = Field(1, ge=1, description="Days of traces each check looks at.")


class ProjectFileSource(PydanticBaseSettingsSource):
    """``<project root>/ragwright.toml``; its errors name the file (and line, where TOML says).

    The root itself is reported as the ``project_root`` value, below explicit
    arguments and ``RAGWRIGHT_PROJECT_ROOT`` in priority like every other setting.
    """

    def __init__(self, settings_cls: type[BaseSettings], root: Path) -> None:
        super().__init__(settings_cls)
        self.root = root
        self.path = root / PROJECT_FILE
        self.data = read_project_file(self.path)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {**self.data, "project_root": self.root}


def read_project_file(path: Path) -> dict[str, Any]:
    """The TOML tables of ``ragwright.toml``; a missing file is an empty project file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the project file ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 ({exc.reason}); save it as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    if "project_root" in data:
        raise ConfigError(
            f"{path}:{_key_line(path, 'project_root')}: project_root cannot be set here:"
            " the folder holding ragwright.toml is the project root"
        )
    return data


def _key_line(path: Path, key: str) -> int | None:
    """The line where ``key = ...`` or the ``[key]`` table starts in a TOML file, if found."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    pattern = rf"^[ \t]*(\[\[?[ \t]*{re.escape(key)}[ \t]*\]\]?|{re.escape(key)}[ \t]*=)"
    match = re.search(pattern, text, re.MULTILINE)
    return text[: match.start()].count("\n") + 1 if match else None


class Settings(BaseSettings):
    """Effective configuration of ragwright; relative paths resolve against ``project_root``."""

    model_config = SettingsConfigDict(
        env_prefix="RAGWRIGHT_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    project_root: Path = Field(
        description="Folder holding ragwright.toml; found upward from the working directory."
    )
    home: Path = Field(Path(".ragwright"), description="Directory for all local state.")
    docs_dir: Path = Field(Path("docs"), description="Documents to ingest.")
    prompts_dir: Path = Field(
        Path("prompts"), description="The project's prompt store (built-in prompts lie beneath)."
    )
    golden_sets_dir: Path = Path("golden_sets")
    golden_set: Path = Field(
        Path("golden_sets/starter.jsonl"),
        description="Golden set the gate runs on and promotion evidence must come from.",
    )
    prompt_registry: bool = Field(
        True, description="Mirror published prompt versions and aliases to MLflow's registry."
    )

    chroma_url: str | None = Field(None, description="Chroma server URL; unset = embedded.")
    collection: str = "ragwright_docs"
    embedding_model: str = "local/all-MiniLM-L6-v2"
    chunk_tokens: int = Field(200, ge=16, le=8192)
    chunk_overlap: int = Field(30, ge=0)
    max_file_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1,
        description="Ingestion skips larger files with a failure line (default 20 MiB). A 50 MB"
        " Markdown file is ~62,000 chunks: ~28 min of embedding on 2 CPU cores, ~400 MB of"
        " memory on top of the model's ~800 MB (benchmarks/fault_ingest.py).",
    )
    follow_symlinks: bool = Field(
        False,
        description="Ingest symlinks that resolve outside docs_dir; off, such links are refused"
        " and reported, and nothing behind them is read.",
    )
    top_k: int = Field(5, ge=1, le=100)
    retrieval: Literal["dense", "hybrid"] = "dense"

    chat_model: str = "local/extractive"
    judge_model: str = "local/judge"
    answer_prompt: str = "rag_answer"
    render_timeout_s: float = Field(
        2.0,
        gt=0,
        le=600,
        description="Longest one prompt render may run (loops, recursion) before it is refused;"
        " a template must never be able to hold a worker.",
    )
    render_max_chars: int = Field(
        200_000,
        ge=1_000,
        description="Largest rendered prompt, and largest value a template may build while"
        " rendering, in characters (items for lists); bounds the memory one request can take.",
    )
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_timeout_s: float = Field(60.0, gt=0)
    openai_max_retries: int = Field(3, ge=0)

    costs_url: str | None = Field(
        None, description="SQLAlchemy URL of a shared cost store (e.g. Postgres); unset = SQLite."
    )
    mlflow_tracking_uri: str | None = Field(
        None, description="Unset = sqlite:///<home>/mlflow.db (local file, offline)."
    )
    eval_concurrency: int = Field(
        8,
        ge=1,
        le=256,
        description="Most model requests an eval keeps in flight to a remote endpoint at once.",
    )
    eval_cache: bool = Field(
        True, description="Answer repeated identical model calls of evals from the call cache."
    )
    judge_samples: int = Field(
        1, ge=1, le=15, description="LLM judge self-consistency samples (majority / mean)."
    )
    serve_workers: int = Field(
        16, ge=1, le=512, description="Threads of `ragwright serve` that answer requests."
    )
    serve_max_in_flight: int | None = Field(
        None,
        ge=1,
        description="Answer requests `ragwright serve` admits at once (running or queued);"
        " more get 503 with Retry-After. Unset = 2 x serve_workers.",
    )
    serve_max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest request body `ragwright serve` reads (413 above)."
    )
    # Embedders, streaming and conversations (docs/providers.md, docs/application.md).
    embedding_device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="Where local/ embedders run; auto = a GPU when torch sees one."
    )
    embedding_onnx: bool = Field(
        True,
        description="On the CPU, run local/ embedders through onnxruntime from an ONNX export"
        " made and verified at first use (<home>/cache/onnx); false = sentence-transformers.",
    )
    embedding_batch_size: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="Texts per encode batch (local) or per request (openai/);"
        " unset = 16 local, 256 remote.",
    )
    embedding_concurrency: int = Field(
        8, ge=1, le=64, description="openai/ embedding requests in flight at once."
    )
    embedding_dimensions: int | None = Field(
        None, ge=1, description="Output size asked of openai/ embedders (text-embedding-3-*)."
    )
    embedding_base_url: str | None = Field(
        None, description="Endpoint of openai/ embedders; unset = openai_base_url."
    )
    condense_prompt: str = Field(
        "condense_question",
        description="Prompt that turns a follow-up and its history into a standalone question.",
    )
    conversation_max_turns: int = Field(
        20, ge=2, le=1000, description="Turns `ragwright serve` keeps per conversation_id."
    )
    conversation_max_count: int = Field(
        1000, ge=1, description="Conversations `ragwright serve` keeps (least recent dropped)."
    )
    # Production traces, online evaluation and monitoring (docs/monitoring.md).
    traces: bool = Field(True, description="Record a trace of every answer (ask, serve, RagChain).")
    traces_url: str | None = Field(
        None, description="SQLAlchemy URL of a shared trace store; unset = <home>/traces.db."
    )
    otel_endpoint: str | None = Field(
        None, description="OTLP/HTTP endpoint the traces also go to (e.g. http://127.0.0.1:4318)."
    )
    online_eval: OnlineEvalSettings = OnlineEvalSettings()
    monitor: MonitorSettings = MonitorSettings()
    gate: GateSettings = GateSettings()
    metrics: list[MetricSettings] = Field(
        default_factory=list, description="Custom metrics ([[metrics]]); see docs/metrics.md."
    )
    guardrails: GuardrailSettings = GuardrailSettings()
    budgets: list[BudgetSettings] = Field(default_factory=list)
    pricing: dict[str, ModelPrice] = Field(
        default_factory=dict, description='Price overrides per model ([pricing."name"]).'
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        explicit = (
            init_settings.init_kwargs.get("project_root")
            if isinstance(init_settings, InitSettingsSource)
            else None
        )
        root = project_root(explicit)
        return (init_settings, env_settings, ProjectFileSource(settings_cls, root))

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        """Anchor every relative path at the project root, whichever source set it."""
        root = self.project_root.expanduser()
        self.project_root = (root if root.is_absolute() else Path.cwd() / root).resolve()
        for name in PATH_FIELDS:
            value: Path = getattr(self, name).expanduser()
            if not value.is_absolute():
                setattr(self, name, self.project_root / value)
        return self

    @property
    def project_file(self) -> Path:
        return self.project_root / PROJECT_FILE

    # Derived locations: one place decides where each store lives.
    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def index_db(self) -> Path:
        return self.home / "index.db"

    @property
    def staging_db(self) -> Path:
        """Vectors of large documents part-way through embedding (deleted when none is)."""
        return self.home / "staging.db"

    @property
    def costs_db(self) -> Path:
        return self.home / "costs.db"

    @property
    def costs_target(self) -> Path | str:
        """Where cost records go: the shared database URL if set, else the local file."""
        return self.costs_url or self.costs_db

    @property
    def traces_target(self) -> Path | str:
        """Where traces go: the shared database URL if set, else ``<home>/traces.db``."""
        return self.traces_url or self.home / "traces.db"

    @property
    def cache_db(self) -> Path:
        return self.home / "cache.db"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "mlartifacts"

    def masked(self) -> dict[str, Any]:
        """Settings as plain data with every secret replaced, safe for logs and reports.

        Generic on purpose, so a setting added later is covered without a list to
        keep up to date: ``SecretStr`` fields, at any depth, become ``MASK``, and
        every string that is a URL loses its password and its secret query values
        (``?token=``, ``api_key=``; :func:`ragwright.redact.mask_url`).
        """
        masked: dict[str, Any] = _masked(self.model_dump(mode="json"), self.model_dump())
        return masked


def _masked(data: Any, raw: Any) -> Any:
    """``data`` (JSON mode) with secrets masked; ``raw`` (python mode) tells SecretStr apart."""
    if isinstance(raw, SecretStr):
        return MASK
    if isinstance(data, dict) and isinstance(raw, dict):
        return {key: _masked(value, raw.get(key)) for key, value in data.items()}
    if isinstance(data, list) and isinstance(raw, list | tuple) and len(raw) == len(data):
        return [_masked(value, item) for value, item in zip(data, raw, strict=True)]
    if isinstance(data, str):
        return mask_url(data)
    return data


def load_settings(**overrides: Any) -> Settings:
    """Build settings, converting validation errors into a ConfigError that names the field.

    A field set in ``ragwright.toml`` is named with the file and line it is on; a
    field that came from elsewhere names its environment variable.
    """
    try:
        settings = Settings(**overrides)
    except SettingsError as exc:
        raise ConfigError(f"{exc}; RAGWRIGHT_* values of tables must be JSON") from exc
    except ValidationError as exc:
        root = project_root(overrides.get("project_root"))
        raise ConfigError(_describe(exc, root / PROJECT_FILE, overrides)) from exc
    # Errors surface far from here (a provider's reply, a log line): from now on
    # ragwright.redact removes these exact values wherever text leaves the process.
    register_secrets(secret_values(settings))
    return settings


def _describe(exc: ValidationError, path: Path, overrides: dict[str, Any]) -> str:
    """One line per problem, each saying where the bad value came from."""
    import os

    data = read_project_file(path)
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        top = str(err["loc"][0]) if err["loc"] else ""
        env = f"RAGWRIGHT_{top.upper()}"
        if top in overrides:
            where = "argument"
        elif env in os.environ or any(k.startswith(f"{env}__") for k in os.environ):
            where = env
        elif top in data:
            line = _key_line(path, top)
            where = f"{path}{f':{line}' if line else ''}"
        else:
            where = "settings"
        problems.append(f"{where} (field '{field}'): {err['msg']}")
    return "invalid settings: " + "; ".join(problems)
