"""The dashboard and labelling pages in a real headless browser (Playwright + Debian chromium).

The browser loads only what ``ragwright serve`` ships: every request to another
host is aborted and counted, so a page that needed a CDN would fail here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragwright.evals.online import OnlineEvaluator, local_judge
from ragwright.flows.ingest import ingest
from ragwright.rag import RagChain
from ragwright.rag.server import create_app
from ragwright.settings import Settings
from ragwright.traces import TraceRecorder
from tests.live_app import serve_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev extra)")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="chromium is not installed (make testservers installs it)"
)

QUESTIONS = ["How do I roll back a prompt?", "How much sun do tomatoes need?"]


@pytest.fixture
def served(small_docs: Path, tmp_path: Path) -> Iterator[tuple[str, RagChain]]:
    settings = Settings(docs_dir=small_docs)
    ingest(settings)
    chain = RagChain.from_settings(settings)
    chain.tracer = TraceRecorder(tmp_path / "traces.db", flush_interval_s=0.05)
    answers = [chain.invoke({"question": question}) for question in QUESTIONS]
    chain.feedback(answers[0].request_id, -1)
    OnlineEvaluator(chain.tracer.store, local_judge(settings)).run_until_idle()
    with serve_app(create_app(chain)) as url:
        yield url, chain
    chain.tracer.close()


def test_dashboard_draws_charts_and_opens_a_trace_and_a_label_is_saved(
    served: tuple[str, RagChain],
) -> None:
    url, chain = served
    outside: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()

            def only_this_server(route: playwright.Route) -> None:
                if route.request.url.startswith(url):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_this_server)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{url}/dashboard")
            page.wait_for_selector("body[data-ready='1']", timeout=15_000)
            assert page.inner_text("#n-traces") == str(len(QUESTIONS))
            assert page.locator(".chart svg").count() == 6
            assert page.locator(".chart svg circle.point").count() == 6  # a day: a point each
            assert page.locator("#worst tbody tr").count() == len(QUESTIONS)
            page.locator("a.trace-link").first.click()
            page.wait_for_selector("#trace:not([hidden])")
            assert "spans (ms): guard_in" in page.inner_text("#trace")

            page.goto(f"{url}/label")
            page.wait_for_selector("body[data-ready='1']", timeout=15_000)
            assert page.inner_text("#progress") == f"{len(QUESTIONS)} answers to label"
            question = page.inner_text("#question")
            page.check("input[name=supported][value=false]")
            page.check("input[name=correct][value=false]")
            page.click("#save")
            page.wait_for_selector("#status:has-text('saved')")
            assert errors == []
        finally:
            browser.close()
    assert outside == []
    assert chain.tracer is not None
    labelled = [t for t in chain.tracer.store.select() if t["label_supported"] is not None]
    assert [(t["question"], t["label_supported"], t["label_correct"]) for t in labelled] == [
        (question, 0, 0)
    ]
