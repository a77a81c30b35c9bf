"""Guardrails: the input and output checks around the chain, each in its own mode.

Input checks (prompt injection, personal data) run on the question before
retrieval and before any model call; output checks (groundedness, personal data
leaks) run on the answer before it is returned. Each check is ``off``, ``warn``
(report and continue), ``redact`` (personal data only: replace it with
``<KIND>``) or ``block`` (refuse the question, or withhold the answer).

Findings name the check and the kinds found, never the offending text, so they
can be logged, returned over HTTP and counted without leaking what they caught.

Between retrieval and the prompt, retrieved chunks are checked for planted
instructions (``retrieved_injection``: off, warn, drop-chunk, block; see
guardrails/retrieved.py), and answers for requests aimed at the user that no
clean source makes (``unsupported_requests``: credentials, payment, links).
The engine behind a check is chosen in settings (guardrails/backends.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ragwright.errors import ConfigError, GuardrailBlockedError
from ragwright.guardrails.backends import PiiEngine, RailEngine, pii_engine
from ragwright.guardrails.documents import DocumentScanner, user_requests
from ragwright.guardrails.findings import Span
from ragwright.guardrails.injection import InjectionDetector, default_weights
from ragwright.guardrails.pii import PII_KINDS, redact
from ragwright.guardrails.retrieved import check_retrieved
from ragwright.rag.guard import GuardAction, Guarded, GuardedContexts, GuardFinding
from ragwright.settings import GuardMode, GuardrailSettings, Settings

__all__ = ["DEFAULT_PII_KINDS", "WITHHELD", "GroundednessScorer", "Guardrails"]

log = logging.getLogger(__name__)

WITHHELD = "The answer was withheld by a guardrail ({check})."

# Every kind the detector knows but web addresses: answers cite documentation
# links, and a URL is rarely personal data. Name it in ``pii_kinds`` to check it.
DEFAULT_PII_KINDS = tuple(kind for kind in PII_KINDS if kind != "DOMAIN_NAME")
# Presidio reports these too (dates are everywhere in answers, so they are opt-in)
EXTRA_PII_KINDS = ("LOCATION", "DATE_TIME")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)


class GroundednessScorer(Protocol):
    threshold: float  # the calibrated P(unsupported) at which an answer counts as ungrounded

    def unsupported_probability(self, answer: str, contexts: Sequence[str]) -> float:
        """P(the answer states something the contexts do not support), in [0, 1]."""
        ...


class _LocalGroundedness:
    """The calibrated local hallucination judge, as a groundedness score."""

    def __init__(self, settings: Settings) -> None:
        # Imported here: only this check needs the model (shared with the eval judge).
        from ragwright.grounding import GroundingModel
        from ragwright.providers.registry import local_embedder

        # calibrated on MiniLM's scores: not the index's embedder when that is another model
        self.judge = GroundingModel(local_embedder(settings))
        self.threshold = self.judge.weights.threshold

    def unsupported_probability(self, answer: str, contexts: Sequence[str]) -> float:
        from ragwright.rag.chain import is_refusal

        return 0.0 if is_refusal(answer) else self.judge.assess(answer, contexts).score


def _kinds(spans: Sequence[Span]) -> list[str]:
    return sorted({span.kind for span in spans})


class Guardrails:
    """A :class:`ragwright.rag.guard.Guard` built from ``[guardrails]`` settings."""

    def __init__(
        self,
        config: GuardrailSettings,
        *,
        injection: InjectionDetector | None = None,
        groundedness: GroundednessScorer | None = None,
        pii: PiiEngine | None = None,
        rails: RailEngine | None = None,
    ) -> None:
        known = (*PII_KINDS, *EXTRA_PII_KINDS)
        unknown = sorted(set(config.pii_kinds or ()) - set(known))
        if unknown:
            raise ConfigError(
                f"guardrails.pii_kinds: unknown kind(s) {unknown}; known: {', '.join(known)}"
            )
        uses_rails = config.prompt_injection_backend == "nemo" or config.nemo_output != "off"
        if uses_rails and rails is None:
            raise ConfigError("guardrails: a 'nemo' backend needs guardrails.nemo_config")
        self.pii = pii or pii_engine(config)
        self.rails = rails
        self.config = config
        self.pii_kinds = tuple(config.pii_kinds) if config.pii_kinds else DEFAULT_PII_KINDS
        self.injection = injection or InjectionDetector(
            default_weights(), threshold=config.injection_threshold
        )
        self.scanner = DocumentScanner(self.injection)
        if groundedness is None and config.groundedness != "off":
            raise ValueError("the groundedness check needs a scorer (Guardrails.from_settings)")
        self.groundedness = groundedness
        # settings first, else the judge's calibrated threshold (unused when the check is off)
        configured = config.groundedness_threshold
        calibrated = groundedness.threshold if groundedness is not None else 1.0
        self.groundedness_threshold = calibrated if configured is None else configured

    @classmethod
    def from_settings(cls, settings: Settings) -> Guardrails:
        config = settings.guardrails
        scorer = _LocalGroundedness(settings) if config.groundedness != "off" else None
        rails: RailEngine | None = None
        if config.nemo_config and (
            config.prompt_injection_backend == "nemo" or config.nemo_output != "off"
        ):
            from ragwright.guardrails.nemo import NemoRails

            rails = NemoRails(Path(config.nemo_config), settings)
        return cls(config, groundedness=scorer, rails=rails)

    # -- the Guard protocol ----------------------------------------------------------------
    def check_input(self, question: str) -> Guarded:
        findings: list[GuardFinding] = []
        mode = self.config.prompt_injection
        if mode != "off" and self.config.prompt_injection_backend == "nemo":
            assert self.rails is not None  # checked in __init__
            if self.rails.input_refused(question):
                findings.append(
                    GuardFinding(
                        check="prompt_injection",
                        action=_action(mode),
                        message="the question was refused by the NeMo Guardrails input rails",
                        kinds=["nemo"],
                    )
                )
        elif mode != "off":
            check = self.injection.scan if self.config.injection_views else self.injection.check
            verdict = check(question)
            if verdict.injection:
                findings.append(
                    GuardFinding(
                        check="prompt_injection",
                        action=_action(mode),
                        message="the question tries to change the assistant's instructions",
                        score=round(verdict.score, 4),
                        kinds=sorted(set(verdict.cue_texts))[:5],
                        view=verdict.view,
                    )
                )
        text, pii = self._pii("pii_input", self.config.pii_input, question)
        findings.extend(pii)
        self._log(findings)
        blocking = next((f for f in findings if f.action == "block"), None)
        if blocking is not None:
            raise GuardrailBlockedError(
                f"the question was refused by the {blocking.check} guardrail: {blocking.message}",
                findings,
            )
        return Guarded(text, findings)

    def check_contexts(
        self, question: str, contexts: Sequence[str], metadata: Sequence[Mapping[str, Any]] = ()
    ) -> GuardedContexts:
        guarded = check_retrieved(
            self.scanner,
            contexts,
            metadata,
            mode=self.config.retrieved_injection,
            quarantine=self.config.quarantine,
        )
        self._log(guarded.findings)
        return guarded

    def check_output(self, question: str, answer: str, contexts: Sequence[str]) -> Guarded:
        findings: list[GuardFinding] = [*self._unsupported(answer, contexts)]
        if self.config.nemo_output != "off" and answer.strip():
            assert self.rails is not None  # checked in __init__
            if self.rails.output_refused(question, answer):
                findings.append(
                    GuardFinding(
                        check="nemo_output",
                        action=_action(self.config.nemo_output),
                        message="the answer was refused by the NeMo Guardrails output rails",
                    )
                )
        mode = self.config.groundedness
        if mode != "off" and self.groundedness is not None and answer.strip():
            probability = self.groundedness.unsupported_probability(answer, contexts)
            if probability >= self.groundedness_threshold:
                findings.append(
                    GuardFinding(
                        check="groundedness",
                        action=_action(mode),
                        message="the answer states things the retrieved context does not support",
                        score=round(probability, 4),
                    )
                )
        text, pii = self._pii("pii_output", self.config.pii_output, answer)
        findings.extend(pii)
        self._log(findings)
        blocking = next((f for f in findings if f.action == "block"), None)
        if blocking is not None:
            return Guarded(WITHHELD.format(check=blocking.check), findings)
        return Guarded(text, findings)

    # -- helpers -----------------------------------------------------------------------------
    def _unsupported(self, answer: str, contexts: Sequence[str]) -> list[GuardFinding]:
        """Requests to the user (credentials, payment, a link) that no clean source makes."""
        mode = self.config.unsupported_requests
        if mode == "off" or not answer.strip():
            return []
        asked = user_requests(answer)
        links = {m.group(0).rstrip(".,;:") for m in _URL.finditer(answer)}
        if not asked and not links:
            return []
        # a source that is itself flagged (a planted instruction) supports nothing
        clean = [c for c in contexts if self.scanner.scan_text(c) is None]
        supported: set[str] = set().union(*(user_requests(c) for c in clean)) if clean else set()
        if links:  # a link is supported when a clean source gives that very address
            if all(any(link in c for c in clean) for link in links):
                supported.add("link")
            else:
                supported.discard("link")
                asked.add("link")
        unsupported = sorted(asked - supported)
        if not unsupported:
            return []
        return [
            GuardFinding(
                check="unsupported_request",
                action=_action(mode),
                message="the answer asks the user for something no clean source asks for",
                kinds=unsupported,
            )
        ]

    def _pii(self, check: str, mode: GuardMode, text: str) -> tuple[str, list[GuardFinding]]:
        if mode == "off":
            return text, []
        spans = self.pii.find(text, self.pii_kinds)
        if not spans:
            return text, []
        finding = GuardFinding(
            check=check,
            action=_action(mode),
            message=f"{len(spans)} personal data item(s) found",
            kinds=_kinds(spans),
        )
        return (redact(text, spans) if mode == "redact" else text), [finding]

    @staticmethod
    def _log(findings: Sequence[GuardFinding]) -> None:
        for finding in findings:  # the kinds, never the values
            log.warning(
                "guardrail %s (%s): %s%s",
                finding.check,
                finding.action,
                finding.message,
                f" [{', '.join(finding.kinds)}]" if finding.kinds else "",
            )


def _action(mode: GuardMode) -> GuardAction:
    if mode == "off":  # pragma: no cover - callers skip checks that are off
        raise ValueError("a check that is off has no action")
    return mode
