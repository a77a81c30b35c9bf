"""CPU and memory bombs in templates are refused, naming the limit and its setting.

Each bomb here rendered before the sandbox was bounded (1 GB strings in seconds,
or loops for hours). The time budget is set low in these tests so the loop bombs
are refused quickly; the refusal itself is what is asserted, never how long it took
(benchmarks/render_limits.py prints the times).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ragwright.errors import ConfigError, PromptError, RenderLimitError, TemplateSecurityError
from ragwright.prompts.lifecycle import Lifecycle
from ragwright.prompts.limits import RenderLimits
from ragwright.prompts.lint import lint_store
from ragwright.prompts.store import PromptStore
from ragwright.settings import Settings, load_settings
from tests.conftest import make_prompt, run_cli

FAST = RenderLimits(timeout_s=0.25, max_chars=200_000)
SIZE = "render_max_chars=200,000"
TIME = "render_timeout_s=0.25 s"

BOMBS = {
    # the four found by the issue
    "nested range loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        TIME,
    ),
    "power tower": ("{{ 2**(2**32) }}", SIZE),
    "string repetition": ("{{ 'a' * 10**9 }}", SIZE),
    "format width": ("{{ '{:>1000000000}'.format('x') }}", SIZE),
    # the same ideas through other doors
    "nested format width": ("{{ '{:>{}}'.format('x', 1000000000) }}", SIZE),
    "printf width": ("{{ '%1000000000s' % 'x' }}", SIZE),
    "printf star": ("{{ '%*s' % (1000000000, 'x') }}", SIZE),
    "format filter": ("{{ '%1000000000s'|format('x') }}", SIZE),
    "center filter": ("{{ 'x'|center(1000000000) }}", SIZE),
    "ljust method": ("{{ 'x'.ljust(1000000000) }}", SIZE),
    "to_bytes": ("{{ (1).to_bytes(1000000000, 'big') }}", SIZE),
    "range list": ("{{ range(1000000000)|list|length }}", SIZE),
    "lipsum": ("{{ lipsum(1000000) }}", SIZE),
    "replace growth": ("{{ ('a' * 100000)|replace('a', 'a' * 100000) }}", SIZE),
    "indent growth": ("{{ ('a\n' * 50000)|indent('x' * 100000) }}", SIZE),
    "slice count": ("{{ [1]|slice(1000000000)|list|length }}", SIZE),
    "join of repeats": ("{{ (['a' * 100000] * 100000)|join }}", SIZE),
    "str.join of repeats": ("{{ ''.join(['a' * 100000] * 100000) }}", SIZE),
    "doubling with ~": (
        "{% set ns = namespace(s='a') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        SIZE,
    ),
    "doubling with +": (
        "{% set ns = namespace(s='a') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
        SIZE,
    ),
    "doubling in a set block": (
        "{% set ns = namespace(s='a') %}{% for i in range(40) %}"
        "{% set ns.s %}{{ ns.s }}{{ ns.s }}{% endset %}{% endfor %}{{ ns.s|length }}",
        SIZE,
    ),
    "buffer of new strings": (
        "{% set x %}{% for i in range(100000) %}{{ 'a' * 100000 }}{% endfor %}{% endset %}"
        "{{ x|length }}",
        SIZE,
    ),
    "nested list literals": (
        "{% set s = 'a' * 100000 %}{% set a = [s,s,s,s,s,s,s,s,s,s] %}"
        "{% set b = [a,a,a,a,a,a,a,a,a,a] %}{% set c = [b,b,b,b,b,b,b,b,b,b] %}{{ c }}",
        SIZE,
    ),
    "exponential macro": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}",
        TIME,
    ),
    "long output": ("{% for i in range(100000) %}{{ 'abcdefghij' }}{% endfor %}", SIZE),
}


def version_text(body: str, example: dict[str, object] | None = None) -> str:
    meta = {"description": "bomb", "model": "gpt-4o-mini", "example": example or {}}
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.mark.parametrize(("body", "limit"), list(BOMBS.values()), ids=list(BOMBS))
def test_bomb_is_refused_naming_the_limit_and_setting(root: Path, body: str, limit: str) -> None:
    make_prompt(root, "bomb", {"v1": version_text(body)})

    with pytest.raises(RenderLimitError) as info:
        PromptStore(root, limits=FAST).render("bomb@v1", {})

    message = str(info.value)
    assert message.startswith("prompt bomb@v1: ")
    assert limit in message
    assert "ragwright.toml" in message


def test_summing_lists_is_refused(root: Path) -> None:
    make_prompt(root, "bomb", {"v1": version_text("{{ ([[1]] * 100000)|sum(start=[]) }}")})
    with pytest.raises(TemplateSecurityError, match="sum\\(\\) adds numbers"):
        PromptStore(root, limits=FAST).render("bomb@v1", {})


EVERYDAY = """\
{% set ns = namespace(n=0) %}{% for c in contexts %}{% set ns.n = ns.n + 1 %}{% endfor %}
{{ '{:>6}|{:.2f}'.format(question, 3.14159) }} {{ '%-5s|%03d' % ('ab', 7) }}
{{ contexts|map(attribute='text')|join(' / ') }} {{ question|center(30) }}
{{ question|replace('roll', 'ROLL') }} {{ ('x' * 3) ~ ('y' * 2) }} {{ 2 ** 10 }} {{ ns.n }}
{{ contexts|tojson }} {{ question|wordwrap(20) }} {{ range(3)|list|sum }} {{ [1, 2] + [3] }}
{% macro item(c) %}- {{ c.text|upper }}{% endmacro %}{% for c in contexts %}{{ item(c) }}
{% endfor %}{{ lipsum(1, html=false)|length > 0 }} {{ ''.join(['a', 'b']) }}
"""


def test_everyday_templates_still_render(root: Path) -> None:
    variables = {"question": {"type": "str"}, "contexts": {"type": "list"}}
    meta = {"description": "d", "model": "gpt-4o-mini", "variables": variables}
    text = "---\n" + yaml.safe_dump(meta) + "---\n" + EVERYDAY
    make_prompt(root, "ok", {"v1": text})
    contexts = [{"text": "first"}, {"text": "second"}]

    rendered = PromptStore(root).render("ok@v1", {"question": "how to roll", "contexts": contexts})

    for expected in ("how to roll|3.14", "ab   |007", "first / second", "how to ROLL", "xxxyy"):
        assert expected in rendered.text
    assert "1024" in rendered.text
    assert "- FIRST" in rendered.text


def test_a_refused_render_leaves_the_next_one_unaffected(root: Path) -> None:
    loops = BOMBS["nested range loops"][0]
    make_prompt(root, "bomb", {"v1": version_text(loops)})
    make_prompt(root, "fine", {"v1": version_text("{% for i in range(3) %}{{ i }}{% endfor %}")})
    store = PromptStore(root, limits=FAST)
    with pytest.raises(RenderLimitError):
        store.render("bomb@v1", {})

    assert store.render("fine@v1", {}).text.endswith("012")


def test_settings_bound_the_store(root: Path) -> None:
    make_prompt(root, "long", {"v1": version_text("{{ 'a' * 1500 }}")})
    tight = Settings(prompts_dir=root, render_max_chars=1000, render_timeout_s=0.5)

    with pytest.raises(RenderLimitError, match="render_max_chars=1,000"):
        PromptStore.from_settings(tight).render("long@v1", {})
    assert len(PromptStore.from_settings(Settings(prompts_dir=root)).render("long@v1", {}).text)


def test_publish_refuses_a_version_whose_example_exceeds_the_budget(root: Path) -> None:
    make_prompt(root, "bomb", {"v1": version_text("{{ 'a' * 10**9 }}")})
    manifest = root / "bomb" / "prompt.yaml"
    before = manifest.read_bytes()

    with pytest.raises(RenderLimitError) as info:
        Lifecycle(PromptStore(root, limits=FAST)).publish("bomb", "v1")

    assert SIZE in str(info.value)
    assert "publish renders the version's front-matter example" in str(info.value)
    assert manifest.read_bytes() == before


def test_publish_refuses_a_version_whose_example_does_not_render(root: Path) -> None:
    body = "{{ who }}"
    meta = {"description": "d", "model": "gpt-4o-mini", "variables": {"who": {"type": "str"}}}
    make_prompt(root, "p", {"v1": "---\n" + yaml.safe_dump(meta) + "---\n" + body})

    with pytest.raises(PromptError, match="missing required variable 'who'"):
        Lifecycle(PromptStore(root)).publish("p", "v1")


def test_lint_reports_a_bomb_as_an_error(root: Path) -> None:
    make_prompt(root, "bomb", {"v1": version_text(BOMBS["nested range loops"][0])})

    [finding] = [f for f in lint_store(PromptStore(root, limits=FAST)) if f.level == "error"]

    assert (finding.prompt, finding.version) == ("bomb", "v1")
    assert TIME in finding.message


def test_cli_render_of_a_bomb_is_one_line_exit_2(tmp_path: Path) -> None:
    make_prompt(tmp_path / "prompts", "bomb", {"v1": version_text("{{ 'a' * 10**9 }}")})

    result = run_cli("prompts", "render", "bomb@v1", cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "render_max_chars=200,000" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3  # one message, wrapped by the terminal


@pytest.mark.parametrize(
    ("field", "value"),
    [("render_timeout_s", 0), ("render_max_chars", 10), ("render_timeout_s", -1)],
)
def test_limit_settings_are_validated(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        load_settings(**{field: value})
