"""Export a loaded sentence-transformers model to ONNX once, checked against itself.

Runs where the model is loaded through torch anyway (the first query-time encode
without an export), so the next process can skip torch altogether
(:mod:`ragwright.providers.onnx_runtime`). Nothing is downloaded, and nothing is
written next to the model: the wheel's folder may be read-only; the export goes
under the project's cache.

Only pipelines the runtime reproduces exactly are exported: a Transformer whose
output is ``last_hidden_state``, mean or CLS pooling, optional normalisation and
no prompts. Before an export is kept, its embeddings of :data:`VERIFY_TEXTS`
(long texts past ``max_seq_length``, padded batches, accents, CJK, an empty
string) must agree with sentence-transformers' own to a cosine of
:data:`MIN_COSINE`; a model that fails is recorded as unsupported and keeps
running on sentence-transformers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ragwright.providers.onnx_runtime import (
    MANIFEST,
    UNSUPPORTED,
    Manifest,
    OnnxEncoder,
    content_key,
    pointer_path,
    write_atomically,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["MIN_COSINE", "VERIFY_TEXTS", "ExportResult", "export_onnx"]

MIN_COSINE = 0.9999
VERIFY_TEXTS: tuple[str, ...] = (
    "How do I roll back the production prompt?",
    "a",
    "",
    "Prompts are versioned; the production alias points at one published version.",
    "Ünïcödé façade: naïve café crème, 東京の天気は晴れです, Ελληνικά.",
    "   leading and trailing   whitespace\tand\ttabs \n",
    "The quick brown fox jumps over the lazy dog. " * 60,  # past max_seq_length
    "word " * 300,
    "Refunds take 5-7 business days; contact support@example.com or call +1 555 0100.",
)
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True, slots=True)
class ExportResult:
    """Where the export is (``folder``), or why there is none (``reason``)."""

    folder: Path | None
    reason: str = ""


def export_onnx(model: SentenceTransformer, source: Path, cache: Path) -> ExportResult:
    """The verified export of ``model`` (loaded from ``source``) under ``cache``.

    Made once per model content; later calls only write the pointer. A model
    this runtime cannot reproduce gets an ``unsupported`` pointer, so it is not
    tried again on every start. Disk errors propagate: the caller decides.
    """
    pointer = pointer_path(cache, source)
    reason = _unsupported(model)
    if reason:
        write_atomically(pointer, UNSUPPORTED + reason)
        return ExportResult(None, reason)
    key = content_key(source)
    folder = cache / key
    if Manifest.read(folder / MANIFEST) is None or not (folder / "model.onnx").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache))
        try:
            manifest = _write_export(model, partial)
            if manifest.min_cosine < MIN_COSINE:
                reason = (
                    f"its ONNX embeddings agree with sentence-transformers only to a cosine of"
                    f" {manifest.min_cosine:.6f} (< {MIN_COSINE})"
                )
                write_atomically(pointer, UNSUPPORTED + reason)
                return ExportResult(None, reason)
            if Manifest.read(folder / MANIFEST) is None:  # not finished by another process
                shutil.rmtree(folder, ignore_errors=True)  # a half-written one from a crash
            with contextlib.suppress(OSError):  # another process finished the same export first
                partial.rename(folder)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    write_atomically(pointer, key)
    return ExportResult(folder)


def _unsupported(model: SentenceTransformer) -> str:
    """Why the runtime would not reproduce this pipeline; empty when it would."""
    names = [type(module).__name__ for module in model]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"its pipeline is {' -> '.join(names)}, not Transformer -> Pooling [-> Normalize]"
    transformer: Any = model[0]
    pooling: Any = model[1]
    pooling_mode = pooling.get_config_dict().get("pooling_mode")
    if pooling_mode not in ("mean", "cls"):
        return f"its pooling is {pooling_mode!r}, not mean or cls"
    text = transformer.get_config_dict().get("modality_config", {}).get("text", {})
    if text.get("method_output_name", "last_hidden_state") != "last_hidden_state":
        return f"its transformer output is {text.get('method_output_name')!r}"
    if model.default_prompt_name or any((model.prompts or {}).values()):
        return "it prepends prompts to texts"
    if not getattr(transformer.tokenizer, "is_fast", False):
        return "its tokenizer has no tokenizers (fast) backend"
    if not model.max_seq_length:
        return "it sets no max_seq_length"
    return ""


def _write_export(model: SentenceTransformer, folder: Path) -> Manifest:
    import torch
    from tokenizers import Tokenizer

    transformer: Any = model[0]
    pooling: Any = model[1]
    max_seq_length = int(model.max_seq_length or 0)
    sample = transformer.tokenizer(
        ["a short text", "a somewhat longer text than the first one"],
        padding=True,
        return_tensors="pt",
    )  # a padded batch: a graph traced without padding could drop the attention mask
    inputs = tuple(name for name in _INPUTS if name in sample)
    graph = _last_hidden_state(transformer.auto_model, inputs).eval()
    axes = {name: {0: "batch", 1: "tokens"} for name in (*inputs, "last_hidden_state")}
    with torch.no_grad(), _quiet_export(), _without_onnx_package():
        torch.onnx.export(
            graph,
            tuple(sample[name] for name in inputs),
            str(folder / "model.onnx"),
            input_names=list(inputs),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,  # the dynamo exporter needs onnxscript, which is not a dependency
        )
    # a copy of the tokenizer sentence-transformers runs, with its own normaliser changes
    tokenizer = Tokenizer.from_str(transformer.tokenizer.backend_tokenizer.to_str())
    tokenizer.enable_truncation(max_length=max_seq_length)
    tokenizer.enable_padding(
        pad_id=transformer.tokenizer.pad_token_id or 0,
        pad_token=transformer.tokenizer.pad_token or "[PAD]",
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    pooling_mode: Literal["mean", "cls"] = pooling.get_config_dict()["pooling_mode"]
    draft = Manifest(
        inputs=inputs,
        pooling=pooling_mode,
        dimension=int(model.get_embedding_dimension() or 0),
        max_seq_length=max_seq_length,
        min_cosine=0.0,
    )
    ours = OnnxEncoder(folder, draft).encode(VERIFY_TEXTS, batch_size=4)
    theirs = model.encode(
        list(VERIFY_TEXTS), batch_size=4, normalize_embeddings=True, show_progress_bar=False
    )
    cosine = float(np.min(np.sum(ours * np.asarray(theirs, dtype=np.float32), axis=1)))
    manifest = dataclasses.replace(draft, min_cosine=round(cosine, 7))
    (folder / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def _last_hidden_state(model: Any, inputs: tuple[str, ...]) -> Any:
    """A torch module returning only ``last_hidden_state``: the graph's one output."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model(**dict(zip(inputs, tensors, strict=True))).last_hidden_state

    return LastHiddenState()


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """The tracer warns about every data-dependent branch; the verification decides instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _without_onnx_package() -> Iterator[None]:
    """Let torch's TorchScript exporter run without the ``onnx`` package.

    It imports ``onnx`` for one step only: splicing custom onnxscript functions
    into the graph. Our graph has none, so the step returns its input unchanged;
    when ``onnx`` is missing that step is skipped for the duration of the export.
    A torch without this hook fails the export, and the model stays on torch.
    """
    try:
        import onnx  # noqa: F401
    except ImportError:
        pass
    else:
        yield
        return
    from torch.onnx._internal.torchscript_exporter import onnx_proto_utils

    original = onnx_proto_utils._add_onnxscript_fn

    def unchanged(model_bytes: bytes, custom_opsets: Any) -> bytes:
        if custom_opsets:
            return original(model_bytes, custom_opsets)
        return model_bytes

    onnx_proto_utils._add_onnxscript_fn = unchanged
    try:
        yield
    finally:
        onnx_proto_utils._add_onnxscript_fn = original
