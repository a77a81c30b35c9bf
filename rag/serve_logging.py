"""The logs of ``ragwright serve``: redacted, and written by a thread of their own.

uvicorn logs one access line per request, and ragwright's own records reach the
same console. Redaction (a dozen regular expressions), uvicorn's formatting and
the write to the console all ran on the event loop thread, once per request.
The write releases the interpreter lock, and with the answer threads busy the
loop waited for it to come back: 2-3 ms of every request's time on the loop at
concurrency 32 on 2 cores, during which no other connection was served
(``benchmarks/serve.py --profile``). With :func:`logging_off_the_loop` the loop
puts the record on a queue; a listener thread filters, formats and writes it.
"""

from __future__ import annotations

import copy
import logging
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from logging.handlers import QueueHandler, QueueListener
from typing import Any

__all__ = ["SERVER_LOGGERS", "log_config", "logging_off_the_loop"]

SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "ragwright")
"""The loggers ``log_config`` gives handlers: those the listener takes over."""

_PLAIN = (str, int, float, bool, bytes, type(None))


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with every handler redacting, and ragwright's INFO.

    The access log records paths with their query strings (``?api_key=``), and
    ragwright's own records reach the same console: all pass the redacting filter.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": "ragwright.redact.RedactingFilter"}}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact")
    config["loggers"]["ragwright"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


class _DeferredQueueHandler(QueueHandler):
    """Queues the record as it is, so the listener's handlers do all the formatting.

    The stock ``prepare`` formats the message on the calling thread and drops the
    arguments, which uvicorn's access formatter reads. Arguments that are not
    plain values could change before the listener formats them: those records
    are formatted here, as the stock handler would.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        args = record.args or ()
        if isinstance(args, tuple) and all(isinstance(v, _PLAIN) for v in args):
            return record
        record = copy.copy(record)
        record.msg, record.args = record.getMessage(), None
        return record


@contextmanager
def logging_off_the_loop(names: tuple[str, ...] = SERVER_LOGGERS) -> Iterator[QueueListener]:
    """Move the handlers of ``names`` behind a queue while the block runs.

    Call it after the logging configuration is applied (``uvicorn.Config`` applies
    ``log_config()``); on the way out the listener writes what is still queued and
    the loggers get their handlers back.
    """
    loggers = [logging.getLogger(name) for name in names]
    moved = {logger.name: list(logger.handlers) for logger in loggers if logger.handlers}
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = _Listener(records, moved)
    queued = _DeferredQueueHandler(records)
    for logger in loggers:
        if logger.name in moved:
            # each logger keeps its own handlers: the listener sends a record only to
            # those of the logger that queued it (uvicorn.access has its own formatter)
            logger.handlers = [_Tagged(queued, logger.name)]
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()  # writes what is queued
        for logger in loggers:
            if logger.name in moved:
                logger.handlers = moved[logger.name]


class _Tagged(logging.Handler):
    """Marks a record with the logger whose handlers should write it, then queues it."""

    def __init__(self, queued: QueueHandler, route: str) -> None:
        super().__init__()
        self.queued = queued
        self.route = route

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "ragwright_route"):  # queued by another logger already
            record = copy.copy(record)
        record.ragwright_route = self.route
        self.queued.emit(record)


class _Listener(QueueListener):
    """Hands each record to the handlers of the logger it came through."""

    def __init__(
        self,
        records: queue.SimpleQueue[logging.LogRecord],
        routes: dict[str, list[logging.Handler]],
    ) -> None:
        super().__init__(records)
        self.routes = routes

    def handle(self, record: logging.LogRecord) -> None:
        for handler in self.routes.get(getattr(record, "ragwright_route", ""), ()):
            if record.levelno >= handler.level:
                handler.handle(record)
