"""What keeps work off ``ragwright serve``'s event loop: its answer pool and its log listener.

No server and no model here: the pool runs plain functions and the logs go to
in-memory handlers, so each behaviour is checked on its own, quickly.
"""

from __future__ import annotations

import concurrent.futures.thread as executor_module
import contextvars
import io
import logging
import threading
import time
from concurrent.futures import CancelledError
from types import SimpleNamespace
from typing import Any

import pytest

from ragwright.rag.middleware import RandomIds
from ragwright.rag.serve_logging import log_config, logging_off_the_loop
from ragwright.rag.serving import AnswerPool, ServedChain
from ragwright.redact import RedactingFilter

WAIT_S = 10  # bounds a broken run; every wait below ends as soon as the event happens


def test_pool_admits_up_to_its_limit_and_frees_a_slot_when_work_ends() -> None:
    pool = AnswerPool(workers=1, max_in_flight=2)
    release = threading.Event()
    try:
        running = pool.submit(release.wait, WAIT_S)
        queued = pool.submit(lambda: "second")
        assert running is not None
        assert queued is not None
        assert pool.submit(lambda: "third") is None  # full: the route answers 503
        assert pool.in_flight == 2
        release.set()
        assert running.result(WAIT_S) is True
        assert queued.result(WAIT_S) == "second"
        failing = pool.submit(lambda: 1 / 0)
        assert failing is not None
        with pytest.raises(ZeroDivisionError):
            failing.result(WAIT_S)
        assert pool.in_flight == 0  # a failure frees its slot too
    finally:
        release.set()
        pool.shutdown()


def test_pool_carries_the_callers_context_variables() -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    request_id.set("abc")
    pool = AnswerPool(workers=2, max_in_flight=4)
    try:
        future = pool.submit(request_id.get)
        assert future is not None
        assert future.result(WAIT_S) == "abc"
    finally:
        pool.shutdown()


def test_pool_submit_does_not_wait_for_other_executors() -> None:
    """Executors take one process-wide lock in ``submit``; the chain's steps start
    threads under it. The pool's ``submit`` runs on the event loop: it must not wait."""
    lock = getattr(executor_module, "_global_shutdown_lock", None)
    if lock is None:
        pytest.skip("this Python's executors have no process-wide submit lock")
    pool = AnswerPool(workers=1, max_in_flight=1)
    pool.start()
    submitted = threading.Event()
    try:
        with lock:  # as while another executor starts a thread

            def submit() -> None:
                pool.submit(str)
                submitted.set()

            thread = threading.Thread(target=submit)
            thread.start()
            assert submitted.wait(WAIT_S), "submit waited for the executors' lock"
    finally:
        pool.shutdown()


def test_pool_shutdown_cancels_queued_work_and_refuses_more() -> None:
    pool = AnswerPool(workers=1, max_in_flight=3)
    started, release = threading.Event(), threading.Event()

    def run() -> bool:
        started.set()
        return release.wait(WAIT_S)

    running = pool.submit(run)
    queued = pool.submit(lambda: "never")
    assert running is not None
    assert queued is not None
    assert started.wait(WAIT_S)
    pool.shutdown()
    release.set()
    with pytest.raises(CancelledError):
        queued.result(WAIT_S)
    running.result(WAIT_S)  # the running call finished on its own
    assert pool.in_flight == 0
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(str)


class _Recording(logging.Handler):
    """Keeps each formatted line and the thread that wrote it."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((self.format(record), threading.current_thread().name))


def test_logs_are_redacted_formatted_and_written_by_the_listener_thread() -> None:
    access, app = logging.getLogger("uvicorn.access"), logging.getLogger("ragwright")
    saved = {lg: (lg.handlers, lg.level, lg.propagate) for lg in (access, app)}
    access_out, app_out = _Recording(), _Recording()
    from uvicorn.logging import AccessFormatter

    # uvicorn's access formatter unpacks the record's arguments: they must survive the queue
    access_out.setFormatter(AccessFormatter('%(client_addr)s "%(request_line)s" %(status_code)s'))
    for handler in (access_out, app_out):
        handler.addFilter(RedactingFilter())
    access.handlers, app.handlers = [access_out], [app_out]
    access.setLevel(logging.INFO)
    app.setLevel(logging.INFO)
    access.propagate = app.propagate = False
    try:
        with logging_off_the_loop(("uvicorn.access", "ragwright")) as listener:
            access.info(
                '%s - "%s %s HTTP/%s" %d',
                "127.0.0.1:5000", "GET", "/healthz?api_key=secret-1234", "1.1", 200,
            )  # fmt: skip
            app.info("index changed: now serving %s", "v2")
            assert access.handlers != [access_out]  # queued while the block runs
        assert access.handlers == [access_out]
        assert app.handlers == [app_out]
    finally:
        for logger, (handlers, level, propagate) in saved.items():
            logger.handlers, logger.level, logger.propagate = handlers, level, propagate

    listener_thread = listener._thread  # stopped by now: every queued record was written
    assert listener_thread is None
    [(line, writer)] = access_out.lines
    assert line == '127.0.0.1:5000 "GET /healthz?api_key=[redacted] HTTP/1.1" 200 OK'
    assert writer != threading.main_thread().name  # not the thread that logged it
    assert app_out.lines[0][0] == "index changed: now serving v2"  # each logger its own


def test_a_record_with_changing_arguments_is_formatted_when_logged() -> None:
    """An argument that is not a plain value could change before the listener runs."""
    logger = logging.getLogger("ragwright")
    saved = logger.handlers, logger.level, logger.propagate
    out = _Recording()
    logger.handlers, logger.propagate = [out], False
    logger.setLevel(logging.INFO)
    try:
        with logging_off_the_loop(("ragwright",)):
            state = {"version": "v1"}
            logger.info("serving %s", state)
            state["version"] = "v2"
    finally:
        logger.handlers, logger.level, logger.propagate = saved
    assert out.lines[0][0] == "serving {'version': 'v1'}"


def test_log_config_redacts_every_handler() -> None:
    config = log_config()
    assert all("redact" in h["filters"] for h in config["handlers"].values())
    assert config["loggers"]["ragwright"]["level"] == "INFO"
    stream = io.StringIO()  # the filter it names is ragwright's
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.handle(logging.makeLogRecord({"msg": "key sk-abcdefghijklmnopqrstuvwxyz123"}))
    assert "sk-abc" not in stream.getvalue()


class _CountingRetriever:
    """Enough of a retriever for ``ServedChain``: it records who checks the index."""

    version = SimpleNamespace(version="v1")

    def __init__(self) -> None:
        self.checked_by: list[str] = []

    def is_current(self) -> bool:
        self.checked_by.append(threading.current_thread().name)
        return True


def test_requests_leave_index_checks_to_the_watcher() -> None:
    retriever = _CountingRetriever()
    chain: Any = SimpleNamespace(
        retriever=retriever, prompt="rag_answer", model=SimpleNamespace(name="m")
    )
    served = ServedChain(chain, refresh_s=1.0)
    served.start_watching()
    try:
        deadline = time.monotonic() + 1.5  # the watcher checks once a second
        while time.monotonic() < deadline:
            assert served.current() is chain  # a request, on this thread
            time.sleep(0.01)
    finally:
        served.stop_watching()
    assert retriever.checked_by  # the index was checked ...
    assert set(retriever.checked_by) == {"ragwright-index-watch"}  # ... never by a request
    served.checked -= 1.0
    served.current()  # no watcher: the request checks
    assert retriever.checked_by[-1] == threading.current_thread().name


def test_request_ids_are_distinct_random_hex() -> None:
    new_id = RandomIds(batch=4)
    ids = [new_id() for _ in range(1000)]  # many refills
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
