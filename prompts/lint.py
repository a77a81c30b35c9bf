"""Checks that keep the prompt store honest; ``ragwright prompts lint`` runs them.

* a published version's file, and every version it includes, still hashes to
  the recorded hash (immutability);
* every manifest version has its file, every alias points at a published version;
* every version parses, passes the sandbox check and renders its ``example``
  within the render limits (``render_timeout_s``, ``render_max_chars``);
* the rendered example's token count fits the intended model's context window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ragwright.errors import PromptError, PromptFileError, PromptIntegrityError, RagwrightError
from ragwright.prompts.files import read_version
from ragwright.prompts.integrity import verify_published
from ragwright.prompts.store import PromptStore
from ragwright.tokens import count_tokens

__all__ = ["CONTEXT_WINDOWS", "Finding", "lint_store"]

# Tokens of context per intended model; unknown models are reported, not failed.
CONTEXT_WINDOWS = {
    "gpt-4o-mini": 128_000,
    "gpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "o3-mini": 200_000,
    "o4-mini": 200_000,
    "gpt-3.5-turbo": 16_385,
    "local/extractive": 8_192,
}


@dataclass(frozen=True, slots=True)
class Finding:
    level: Literal["error", "warning", "info"]
    prompt: str
    version: str | None
    message: str


def lint_store(store: PromptStore) -> list[Finding]:
    """Findings for the project's prompts; built-in ones are checked by ragwright's own tests."""
    findings: list[Finding] = []
    for name in store.names(layer="project"):
        try:
            manifest = store.manifest(name)
        except PromptFileError as exc:
            findings.append(Finding("error", name, None, str(exc)))
            continue
        present = set(store.version_ids(name))
        for version, record in manifest.versions.items():
            path = store.folder(name) / f"{version}.jinja2"
            if version not in present:
                findings.append(
                    Finding("error", name, version, f"{path}: published version's file is missing")
                )
                continue
            try:
                file = read_version(path)
                verify_published(f"{name}@{version}", file, record, store.root)
            except (PromptFileError, PromptIntegrityError) as exc:
                findings.append(Finding("error", name, version, str(exc)))
                continue
        for alias, version in manifest.aliases.items():
            if version not in manifest.versions:
                findings.append(
                    Finding(
                        "error",
                        name,
                        version,
                        f"alias '{alias}' points at unpublished version {version}",
                    )
                )
        for version in sorted(present - set(manifest.versions)):
            findings.append(
                Finding(
                    "info", name, version, "draft (not published yet): its hash is not recorded"
                )
            )
        for version in sorted(present):
            findings.extend(_render_example(store, name, version))
    return findings


def _render_example(store: PromptStore, name: str, version: str) -> list[Finding]:
    try:
        prompt = store.get(f"{name}@{version}", verify=False)  # reported above, once
        rendered = store.renderer(name).render(name, version, prompt.file, prompt.file.meta.example)
    except (PromptError, PromptFileError) as exc:
        return [Finding("error", name, version, f"example does not render: {exc}")]
    except RagwrightError as exc:  # pragma: no cover - defensive: any other user error
        return [Finding("error", name, version, str(exc))]
    tokens = count_tokens(rendered.text)
    model = prompt.file.meta.model
    window = CONTEXT_WINDOWS.get(model)
    if window is None:
        return [
            Finding(
                "warning",
                name,
                version,
                f"example renders to {tokens} tokens; context window of '{model}' unknown",
            )
        ]
    level: Literal["error", "info"] = "error" if tokens > window else "info"
    return [
        Finding(level, name, version, f"example renders to {tokens} tokens of {window} ({model})")
    ]
