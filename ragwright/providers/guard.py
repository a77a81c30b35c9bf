"""A switch that forbids network model calls, for test suites.

Like pydantic-ai's ``ALLOW_MODEL_REQUESTS``: the test conftest turns it off, so
a test that would silently reach a paid API fails loudly instead. Tests that
talk to a local fake server turn it back on for their block only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ragwright.errors import ModelRequestsBlockedError

__all__ = ["check_model_requests_allowed", "override_allow_model_requests"]

ALLOW_MODEL_REQUESTS = True


def check_model_requests_allowed(provider: str, model: str) -> None:
    if not ALLOW_MODEL_REQUESTS:
        raise ModelRequestsBlockedError(
            "network model requests are disabled (ragwright.providers.guard.ALLOW_MODEL_REQUESTS"
            " is False); use a local model or override_allow_model_requests(True)",
            provider=provider,
            model=model,
        )


@contextmanager
def override_allow_model_requests(allow: bool) -> Iterator[None]:
    global ALLOW_MODEL_REQUESTS  # noqa: PLW0603 - a process-wide switch by design
    previous = ALLOW_MODEL_REQUESTS
    ALLOW_MODEL_REQUESTS = allow
    try:
        yield
    finally:
        ALLOW_MODEL_REQUESTS = previous
