"""Retrieval-augmented generation: loaders, chunking, the index, retrieval and the chain.

``RagChain`` and ``RagAnswer`` are loaded on first access, so importing a
submodule (``ragwright.rag.chunking``) does not pull in LangChain's runnables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragwright.rag.chain import RagAnswer, RagChain

__all__ = ["RagAnswer", "RagChain"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ragwright.rag import chain

        return getattr(chain, name)
    raise AttributeError(f"module 'ragwright.rag' has no attribute {name!r}")
