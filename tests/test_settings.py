"""Settings: defaults, RAGWRIGHT_* variables, ragwright.toml, validation, masking."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from ragwright.cli.app import app
from ragwright.errors import ConfigError, UserError
from ragwright.settings import GateSettings, ModelPrice, Settings, load_settings

SECRET = "sk-secret-123"


def write_toml(folder: Path, text: str) -> Path:
    path = folder / "ragwright.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RAGWRIGHT_HOME")

    settings = load_settings()

    assert settings.project_root == tmp_path.resolve()
    assert settings.home == tmp_path.resolve() / ".ragwright"
    assert settings.docs_dir == tmp_path.resolve() / "docs"
    assert settings.golden_set == tmp_path.resolve() / "golden_sets" / "starter.jsonl"
    assert settings.top_k == 5
    assert settings.retrieval == "dense"
    assert settings.chunk_tokens == 200
    assert settings.chat_model == "local/extractive"
    assert settings.answer_prompt == "rag_answer"
    assert settings.chroma_url is None
    assert settings.openai_api_key is None
    assert settings.mlflow_tracking_uri is None
    assert settings.gate == GateSettings()
    assert settings.gate.relevance_margin == 0.25
    assert settings.pricing == {}
    assert (settings.prompts_dir / "rag_answer" / "prompt.yaml").is_file()
    expected = (tmp_path / ".ragwright" / "mlflow.db").resolve()
    assert settings.tracking_uri == f"sqlite:///{expected}"


def test_home_comes_from_env_and_derived_paths_live_under_it(isolated_home: Path) -> None:
    settings = load_settings()

    assert settings.home == isolated_home
    for derived in (
        settings.chroma_path,
        settings.index_db,
        settings.costs_db,
        settings.cache_db,
        settings.reports_dir,
        settings.artifacts_dir,
    ):
        assert derived.parent == isolated_home


def test_tracking_uri_defaults_to_sqlite_under_home(isolated_home: Path) -> None:
    uri = load_settings().tracking_uri

    assert uri.startswith("sqlite:///")
    db = Path(uri.removeprefix("sqlite:///"))
    assert db.is_absolute()
    assert db == (isolated_home / "mlflow.db").resolve()


def test_tracking_uri_is_absolute_even_for_relative_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RAGWRIGHT_HOME", "state")
    uri = load_settings().tracking_uri
    assert uri == f"sqlite:///{(tmp_path / 'state' / 'mlflow.db').resolve()}"


def test_explicit_tracking_uri_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGWRIGHT_MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert load_settings().tracking_uri == "http://mlflow.internal:5000"


def test_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGWRIGHT_TOP_K", "7")
    monkeypatch.setenv("RAGWRIGHT_GATE__RELEVANCE_MARGIN", "0.5")
    monkeypatch.setenv("RAGWRIGHT_RETRIEVAL", "hybrid")
    monkeypatch.setenv("RAGWRIGHT_CHROMA_URL", "http://chroma:8000")

    settings = load_settings()

    assert settings.top_k == 7
    assert settings.gate.relevance_margin == 0.5
    assert settings.gate.relevance_min == 3.0  # the rest of the gate keeps its defaults
    assert settings.retrieval == "hybrid"
    assert settings.chroma_url == "http://chroma:8000"


def test_toml_in_cwd(tmp_path: Path) -> None:
    write_toml(
        tmp_path,
        """
        top_k = 3
        retrieval = "hybrid"
        chat_model = "gpt-4o-mini"

        [gate]
        relevance_min = 4.0
        bootstrap_samples = 500

        [pricing."my-model"]
        input = 0.5
        output = 1.5
        """,
    )

    settings = load_settings()

    assert settings.top_k == 3
    assert settings.retrieval == "hybrid"
    assert settings.chat_model == "gpt-4o-mini"
    assert settings.gate.relevance_min == 4.0
    assert settings.gate.bootstrap_samples == 500
    assert settings.gate.hallucination_rate_max == 0.10
    assert settings.pricing == {"my-model": ModelPrice(input=0.5, output=1.5)}


def test_toml_outside_cwd_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    write_toml(tmp_path / "elsewhere", "top_k = 3\n")
    assert load_settings().top_k == 5


def test_env_beats_toml_and_nested_sources_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(
        tmp_path,
        """
        top_k = 3
        [gate]
        relevance_min = 4.0
        relevance_margin = 0.1
        """,
    )
    monkeypatch.setenv("RAGWRIGHT_TOP_K", "7")
    monkeypatch.setenv("RAGWRIGHT_GATE__RELEVANCE_MARGIN", "0.5")

    settings = load_settings()

    assert settings.top_k == 7
    assert settings.gate.relevance_margin == 0.5
    assert settings.gate.relevance_min == 4.0  # from toml, not lost by the env override


def test_explicit_overrides_beat_env_and_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(tmp_path, "top_k = 3\n")
    monkeypatch.setenv("RAGWRIGHT_TOP_K", "7")
    assert load_settings(top_k=9).top_k == 9


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"RAGWRIGHT_TOP_K": "0"}, "top_k"),
        ({"RAGWRIGHT_TOP_K": "many"}, "top_k"),
        ({"RAGWRIGHT_RETRIEVAL": "bogus"}, "retrieval"),
        ({"RAGWRIGHT_GATE__CONFIDENCE": "0.2"}, "gate.confidence"),
        ({"RAGWRIGHT_OPENAI_TIMEOUT_S": "0"}, "openai_timeout_s"),
    ],
)
def test_invalid_env_value_is_config_error_naming_field(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    with pytest.raises(ConfigError) as info:
        load_settings()

    assert field in str(info.value)
    assert isinstance(info.value, UserError)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("top_k = 0\n", "top_k"),
        ('retrieval = "bogus"\n', "retrieval"),
        ("colour = 1\n", "colour"),
        ("[gate]\nrelevance_min = 9\n", "gate.relevance_min"),
        ("[gate]\nstrictness = 1\n", "gate.strictness"),
        ('[pricing."my-model"]\ninput = 1\n', "pricing.my-model.output"),
        ('[pricing."my-model"]\ninput = -1\noutput = 1\n', "pricing.my-model.input"),
    ],
)
def test_invalid_toml_value_is_config_error_naming_field(
    tmp_path: Path, toml: str, field: str
) -> None:
    write_toml(tmp_path, toml)

    with pytest.raises(ConfigError) as info:
        load_settings()

    assert field in str(info.value)


def test_invalid_override_is_config_error() -> None:
    with pytest.raises(ConfigError, match="chunk_tokens"):
        load_settings(chunk_tokens=1)


def test_settings_class_itself_still_raises_validation_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAGWRIGHT_TOP_K", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_malformed_toml_is_config_error(tmp_path: Path) -> None:
    write_toml(tmp_path, "top_k = = 3\n")
    with pytest.raises(ConfigError, match=r"ragwright\.toml"):
        load_settings()


def test_malformed_json_env_for_nested_field_is_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAGWRIGHT_GATE", "{not json")
    with pytest.raises(ConfigError, match="gate"):
        load_settings()


def test_masked_hides_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGWRIGHT_OPENAI_API_KEY", SECRET)

    settings = load_settings()
    masked = settings.masked()

    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == SECRET  # really loaded
    assert SECRET not in json.dumps(masked, default=str)
    assert masked["openai_api_key"] == "**********"
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert masked["top_k"] == settings.top_k  # the rest is plain data


def test_masked_without_key_is_none_and_json_ready() -> None:
    masked = load_settings().masked()
    assert masked["openai_api_key"] is None
    json.dumps(masked)  # plain data, no Path or SecretStr objects


def test_cli_config_prints_settings_without_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RAGWRIGHT_OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("RAGWRIGHT_TOP_K", "11")
    write_toml(tmp_path, '[pricing."my-model"]\ninput = 0.5\noutput = 1.5\n')

    result = CliRunner().invoke(app, ["config"])

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    data = json.loads(result.output)
    assert data["top_k"] == 11
    assert data["openai_api_key"] == "**********"
    assert data["pricing"] == {"my-model": {"input": 0.5, "output": 1.5}}


URL_SECRETS = {
    "RAGWRIGHT_COSTS_URL": ("postgresql+psycopg://u:pg-pw-1313@h/db", "pg-pw-1313"),
    "RAGWRIGHT_OPENAI_BASE_URL": ("https://user:proxy-pw-13@llm.example/v1", "proxy-pw-13"),
    "RAGWRIGHT_MLFLOW_TRACKING_URI": (
        "https://mlflow.example/?token=mlflow-tok-13",
        "mlflow-tok-13",
    ),
    "RAGWRIGHT_CHROMA_URL": ("http://admin:chroma-pw-13@chroma:8000", "chroma-pw-13"),
}


def test_cli_config_masks_passwords_and_tokens_in_every_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ragwright config` printed database, proxy and tracking passwords in clear."""
    for name, (url, _) in URL_SECRETS.items():
        monkeypatch.setenv(name, url)

    result = CliRunner().invoke(app, ["config"])

    assert result.exit_code == 0, result.output
    for _, secret in URL_SECRETS.values():
        assert secret not in result.output
    data = json.loads(result.output)
    assert data["costs_url"] == "postgresql+psycopg://u:**********@h/db"  # still readable
    assert data["openai_base_url"] == "https://user:**********@llm.example/v1"
    assert data["mlflow_tracking_uri"] == "https://mlflow.example/?token=**********"
    assert data["chroma_url"] == "http://admin:**********@chroma:8000"


def test_masked_is_generic_over_fields_and_depth() -> None:
    """No list of URL fields: any string that is a URL with credentials is masked, at any depth."""
    settings = load_settings(
        budgets=[{"name": "https://u:nested-pw-13@h", "limit_usd": 1.0}],
        collection="http://h/?api_key=field-key-13",
    )
    dumped = json.dumps(settings.masked())
    assert "nested-pw-13" not in dumped
    assert "field-key-13" not in dumped
    assert settings.masked()["home"] == str(settings.home)  # everything else as it was
