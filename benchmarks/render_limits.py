"""The bounded sandbox: what it costs per render, and how fast it refuses a bomb.

    .venv/bin/python benchmarks/render_limits.py [--number 3000]

1. Per-render CPU time of the answer prompt (rag_answer@v1, five 700-character
   contexts). Baseline, in the same run: the same steps as Renderer.render
   (validate inputs, render the root, then each chat block) on Jinja's plain
   ImmutableSandboxedEnvironment, i.e. the renderer without its time and size
   checks. Then PromptStore.render, the whole per-request path.
2. Time to refusal of each template bomb, at the default limits
   (render_timeout_s=2, render_max_chars=200,000): size bombs are refused
   before they allocate; loop bombs at the deadline.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import timeit
from pathlib import Path

import jinja2
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ragwright.errors import RagwrightError  # noqa: E402
from ragwright.prompts.files import read_version, write_manifest  # noqa: E402
from ragwright.prompts.inputs import validate_inputs  # noqa: E402
from ragwright.prompts.model import Manifest  # noqa: E402
from ragwright.prompts.render import PART_NAMES, RenderedPrompt, Renderer  # noqa: E402
from ragwright.prompts.store import PromptStore  # noqa: E402
from ragwright.providers.base import Message  # noqa: E402

CONTEXTS = [
    {"source": f"doc{i}.md", "title": f"Doc {i}", "text": "lorem ipsum dolor " * 40}
    for i in range(5)
]
INPUTS = {"question": "How do I roll back the production prompt?", "contexts": CONTEXTS}
BOMBS = {
    "nested range(100000) loops": "{% for i in range(100000) %}{% for j in range(100000) %}"
    "{% endfor %}{% endfor %}",
    "2**(2**32)": "{{ 2**(2**32) }}",
    "'a'*10**9": "{{ 'a' * 10**9 }}",
    "'{:>1000000000}'.format": "{{ '{:>1000000000}'.format('x') }}",
    "'~' doubling x40": "{% set ns = namespace(s='a') %}{% for i in range(40) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "nested list literals": "{% set s = 'a' * 100000 %}{% set a = [s,s,s,s,s,s,s,s,s,s] %}"
    "{% set b = [a,a,a,a,a,a,a,a,a,a] %}{{ [b,b,b,b,b,b,b,b,b,b] }}",
    "exponential macro": "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}"
    "{% endmacro %}{{ f(60) }}",
}


def cpu_us(call: object, number: int) -> float:
    timer = timeit.Timer(call, timer=time.process_time)  # type: ignore[arg-type]
    return min(timer.repeat(number=number, repeat=7)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=3000)
    number = parser.parse_args().number
    root = Path(tempfile.mkdtemp(prefix="ragwright-render-bench-")) / "prompts"
    shutil.copytree(REPO / "prompts" / "rag_answer", root / "rag_answer")
    store = PromptStore(root)
    version = read_version(root / "rag_answer" / "v1.jinja2")

    plain = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    ).from_string(version.body)

    def unbounded() -> RenderedPrompt:
        """Renderer.render as it was before the limits: the baseline of their cost."""
        values = validate_inputs("rag_answer", "v1", version.meta.variables, INPUTS)
        context = plain.new_context(values)
        "".join(plain.root_render_func(context)).strip()
        messages = tuple(
            Message(role=p, content="".join(context.blocks[p][0](context)).strip())  # type: ignore[arg-type]
            for p in PART_NAMES
            if p in context.blocks
        )
        return RenderedPrompt(
            "rag_answer", "v1", version.hash, messages, dict(version.meta.parameters)
        )

    renderer = Renderer(root)
    cases = {
        "Renderer.render before the limits": unbounded,
        "ragwright Renderer (bounded)": lambda: renderer.render(
            "rag_answer", "v1", version, INPUTS
        ),
        "PromptStore.render (request path)": lambda: store.render("rag_answer@v1", INPUTS),
    }
    print(f"per-render CPU time, rag_answer@v1, best of 7 x {number}:")
    baseline = None
    for label, call in cases.items():
        call()
        micros = cpu_us(call, number)
        baseline = baseline or micros
        print(f"  {label:36} {micros:7.1f} us   {micros / baseline:4.2f} x baseline")

    print("time to refusal at the default limits:")
    meta = yaml.safe_dump({"description": "bomb", "model": "gpt-4o-mini"})
    for index, (label, body) in enumerate(BOMBS.items()):
        folder = root / f"bomb{index}"
        folder.mkdir()
        (folder / "v1.jinja2").write_text(f"---\n{meta}---\n{body}", encoding="utf-8")
        write_manifest(folder / "prompt.yaml", Manifest(name=f"bomb{index}"))
        started = time.perf_counter()
        try:
            store.render(f"bomb{index}@v1", {})
            outcome = "RENDERED (not refused)"
        except RagwrightError as exc:
            outcome = f"{type(exc).__name__}: {str(exc).split(': ', 1)[1][:70]}"
        print(f"  {label:28} {time.perf_counter() - started:6.3f} s  {outcome}")
    shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
