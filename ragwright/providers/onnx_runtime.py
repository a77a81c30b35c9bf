"""A sentence-transformers model run by onnxruntime + tokenizers: no torch at query time.

Importing sentence-transformers (torch, transformers, scikit-learn) takes seconds,
most of a cold ``ragwright ask``; onnxruntime and tokenizers (both already needed
by Chroma) start in a fraction of that. :mod:`ragwright.providers.onnx_export`
writes a model's ONNX graph once, from the model's own weights, and checks it
against sentence-transformers; this module finds that export and runs it.

An export is a folder ``<cache>/<content key>/`` holding ``model.onnx``, the
tokenizer exactly as sentence-transformers configured it (truncation at the
model's ``max_seq_length``, padding) and ``manifest.json`` (inputs, pooling). The
key is a hash of the model's files, so another version of a model never meets an
old graph. Hashing ~90 MB of weights on every start would cost a tenth of a
second, so ``<cache>/by-stat/<stamp>`` maps the files' names, sizes and
modification times to that key; a stale or missing pointer only means the
export is looked for, or made, again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

__all__ = [
    "FORMAT",
    "Manifest",
    "OnnxEncoder",
    "content_key",
    "find_export",
    "load_encoder",
    "runtime_available",
    "stat_stamp",
    "unsupported_reason",
]

FORMAT = 1  # bump when the export's layout or the graph's contract changes
MANIFEST = "manifest.json"
UNSUPPORTED = "unsupported: "  # a pointer holding this names why a model has no export
_SKIPPED_DIRS = frozenset({"onnx", "openvino", ".git", ".cache"})  # other runtimes' copies
_SKIPPED_FILES = frozenset({"README.md", ".gitattributes"})


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the runtime needs beyond the graph: which inputs it takes and how to pool."""

    inputs: tuple[str, ...]  # of input_ids, attention_mask, token_type_ids
    pooling: Literal["mean", "cls"]
    dimension: int
    max_seq_length: int
    min_cosine: float  # the agreement with sentence-transformers measured at export

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "inputs": list(self.inputs),
                "pooling": self.pooling,
                "dimension": self.dimension,
                "max_seq_length": self.max_seq_length,
                "min_cosine": self.min_cosine,
            },
            indent=2,
        )

    @classmethod
    def read(cls, path: Path) -> Manifest | None:
        """The manifest at ``path``; None when missing, unreadable or of another format."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data["pooling"] not in ("mean", "cls"):
                return None
            return cls(
                inputs=tuple(str(name) for name in data["inputs"]),
                pooling=data["pooling"],
                dimension=int(data["dimension"]),
                max_seq_length=int(data["max_seq_length"]),
                min_cosine=float(data["min_cosine"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _model_files(source: Path) -> Iterator[Path]:
    """The files that define the model, in a stable order."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if any(part in _SKIPPED_DIRS for part in relative.parts[:-1]):
            continue
        if path.name not in _SKIPPED_FILES and path.is_file():
            yield path


def stat_stamp(source: Path) -> str:
    """A cheap fingerprint of the model's files (names, sizes, modification times)."""
    digest = hashlib.sha256(f"ragwright-onnx-{FORMAT}\n{source.resolve()}\n".encode())
    for path in _model_files(source):
        stat = path.stat()
        digest.update(f"{path.relative_to(source)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def content_key(source: Path) -> str:
    """The hash of the model's files' contents: what an export is stored under."""
    digest = hashlib.sha256(f"ragwright-onnx-{FORMAT}\n".encode())
    for path in _model_files(source):
        digest.update(f"{path.relative_to(source)}\0".encode())
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()[:32]


def pointer_path(cache: Path, source: Path) -> Path:
    return cache / "by-stat" / stat_stamp(source)


def find_export(cache: Path, source: Path) -> Path | None:
    """The verified export of the model in ``source``, if one was made; never writes."""
    try:
        key = pointer_path(cache, source).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not key or key.startswith(UNSUPPORTED):
        return None
    folder = cache / key
    if (folder / "model.onnx").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    return None


def runtime_available() -> bool:
    """Whether onnxruntime and tokenizers can be imported (without importing them)."""
    from importlib.util import find_spec

    return find_spec("onnxruntime") is not None and find_spec("tokenizers") is not None


class OnnxEncoder:
    """Normalised sentence embeddings from an export: tokenize, run the graph, pool."""

    def __init__(self, folder: Path, manifest: Manifest | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        found = manifest or Manifest.read(folder / MANIFEST)
        if found is None:
            raise FileNotFoundError(f"no usable {MANIFEST} in {folder}")
        self.manifest = found
        self.folder = folder
        self.tokenizer: Tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings would clutter every command
        # Idle pool threads spin by default, taking the cores Chroma and the chain's
        # own threads need; measured, without spinning a query costs less CPU and time.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session: onnxruntime.InferenceSession = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: Sequence[str], batch_size: int = 16) -> npt.NDArray[np.float32]:
        """Like ``SentenceTransformer.encode(normalize_embeddings=True)``.

        Texts are batched shortest first, as sentence-transformers does, so a
        batch pads to similar lengths; the rows come back in the caller's order.
        """
        out = np.zeros((len(texts), self.manifest.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._batch([texts[i] for i in rows])
        return out

    def _batch(self, texts: list[str]) -> npt.NDArray[np.float32]:
        encodings = self.tokenizer.encode_batch(texts)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        columns = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": mask,
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        feeds = {name: columns[name] for name in self.manifest.inputs}
        hidden = np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)
        if self.manifest.pooling == "cls":
            pooled = hidden[:, 0]
        else:  # the mean over real tokens, as sentence-transformers' Pooling(mean)
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)


def load_encoder(cache: Path, source: Path) -> OnnxEncoder | None:
    """The encoder for ``source``'s export, or None (no export, or no onnxruntime here)."""
    if not runtime_available():
        return None
    folder = find_export(cache, source)
    if folder is None:
        return None
    manifest = Manifest.read(folder / MANIFEST)
    if manifest is None:
        return None
    return OnnxEncoder(folder, manifest)


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def unsupported_reason(cache: Path, source: Path) -> str:
    """Why an earlier export of this model was refused; empty when none was."""
    try:
        text = pointer_path(cache, source).read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return text.removeprefix(UNSUPPORTED) if text.startswith(UNSUPPORTED) else ""
