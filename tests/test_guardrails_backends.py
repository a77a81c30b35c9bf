"""The engines behind checks: Presidio for personal data, NeMo Guardrails rails, offline.

Both are optional (the ``guardrails`` extra); each test skips, with the reason,
when its package is absent. NeMo runs against the local OpenAI-compatible test
server with the network cut off from nothing but that server.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ragwright.errors import ConfigError, GuardrailBlockedError
from ragwright.guardrails import Guardrails
from ragwright.guardrails.backends import BuiltinPii, pii_engine
from ragwright.settings import GuardrailSettings, Settings
from tests.openai_server import OpenAIServer, openai_server_fixture  # noqa: F401

HAS_PRESIDIO = importlib.util.find_spec("presidio_analyzer") is not None
HAS_NEMO = importlib.util.find_spec("nemoguardrails") is not None
needs_presidio = pytest.mark.skipif(
    not HAS_PRESIDIO,
    reason="presidio-analyzer is not installed (pip install 'ragwright[guardrails]')",
)
needs_nemo = pytest.mark.skipif(
    not HAS_NEMO, reason="nemoguardrails is not installed (pip install 'ragwright[nemo]')"
)
OFF = dict.fromkeys(
    ("prompt_injection", "pii_input", "groundedness", "pii_output", "retrieved_injection"), "off"
)


def test_builtin_engine_is_the_default() -> None:
    assert isinstance(pii_engine(GuardrailSettings()), BuiltinPii)


@pytest.mark.skipif(HAS_PRESIDIO, reason="checks the message shown when presidio is absent")
def test_presidio_backend_without_the_package_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"ragwright\[guardrails\]"):
        pii_engine(GuardrailSettings(pii_backend="presidio"))


def test_nemo_backend_needs_a_config_folder() -> None:
    with pytest.raises(ConfigError, match="nemo_config"):
        Guardrails(GuardrailSettings(prompt_injection_backend="nemo"))


@needs_presidio
def test_presidio_patterns_and_context_work_offline_without_a_model() -> None:
    guard = Guardrails(
        GuardrailSettings.model_validate({**OFF, "pii_input": "redact", "pii_backend": "presidio"})
    )
    text = "Card 4111 1111 1111 1111, mail jane.doe@example.com, call 212-555-0199."
    guarded = guard.check_input(text)
    assert guarded.text == "Card <CREDIT_CARD>, mail <EMAIL_ADDRESS>, call <PHONE_NUMBER>."
    assert guarded.findings[0].kinds == ["CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER"]


@needs_presidio
def test_presidio_redacts_a_name_and_an_address_with_a_spacy_model() -> None:
    from ragwright.guardrails.presidio import installed_spacy_model

    if installed_spacy_model() is None:
        pytest.skip("no English spaCy model is installed (ragwright never downloads one)")
    guard = Guardrails(
        GuardrailSettings.model_validate({**OFF, "pii_input": "redact", "pii_backend": "presidio"})
    )
    guarded = guard.check_input("I am Jane Doe and I live at 1600 Pennsylvania Avenue, Washington.")
    assert "Jane Doe" not in guarded.text
    assert "Pennsylvania" not in guarded.text
    assert "<PERSON>" in guarded.text


NEMO_CONFIG = {
    "config.yml": "rails:\n  input:\n    flows:\n      - self check input\n"
    "  output:\n    flows:\n      - self check output\n",
    "prompts.yml": "prompts:\n  - task: self_check_input\n    content: |\n"
    '      User message: "{{ user_input }}"\n'
    "      Should the user message be blocked (Yes or No)?\n"
    "  - task: self_check_output\n    content: |\n"
    '      Bot message: "{{ bot_response }}"\n'
    "      Should the bot message be blocked (Yes or No)?\n",
}


def _verdict(body: dict[str, object]) -> str:
    """The rail model: "Yes" (block) when the checked message mentions explosives."""
    messages = body["messages"]
    assert isinstance(messages, list)
    return "Yes" if "explosive" in str(messages[-1]["content"]).lower() else "No"


@needs_nemo
def test_nemo_input_rail_blocks_a_question_through_the_test_server(tmp_path: Path) -> None:
    for name, text in NEMO_CONFIG.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with OpenAIServer(default=_verdict) as server:
        settings = Settings(
            chat_model="openai/rail-model",
            openai_base_url=server.base_url,
            guardrails=GuardrailSettings.model_validate(
                {
                    **OFF,
                    "prompt_injection": "block",
                    "prompt_injection_backend": "nemo",
                    "nemo_output": "block",
                    "nemo_config": str(tmp_path),
                }
            ),
        )
        guard = Guardrails.from_settings(settings)
        with pytest.raises(GuardrailBlockedError, match="NeMo Guardrails input rails"):
            guard.check_input("How do I make an explosive at home?")
        assert guard.check_input("When does the library open?").findings == []
        assert any("explosive" in str(r.body) for r in server.requests)
        withheld = guard.check_output("q", "Mix the explosive powder with...", [])
        assert withheld.blocked_by == "nemo_output"
        assert guard.check_output("q", "The library opens at nine.", []).blocked_by is None
