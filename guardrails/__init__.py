"""Input and output checks around the RAG chain: prompt injection, personal data, groundedness.

::

    from ragwright.guardrails import Guardrails
    from ragwright.rag import RagChain

    chain = RagChain.from_settings(guard=Guardrails.from_settings(settings))

Modes per check come from ``[guardrails]`` in ``ragwright.toml``; see docs/guardrails.md.
"""

from ragwright.guardrails.pipeline import WITHHELD, Guardrails

__all__ = ["WITHHELD", "Guardrails"]
