"""Rendering prompt versions: chat blocks, input validation, strict undefined names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ragwright.errors import PromptError, PromptFileError, RenderError
from ragwright.prompts.files import content_hash
from ragwright.prompts.store import PromptStore
from tests.conftest import make_prompt


def version_text(
    body: str,
    *,
    variables: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    example: dict[str, Any] | None = None,
    model: str = "gpt-4o-mini",
) -> str:
    meta: dict[str, Any] = {"description": "test prompt", "model": model}
    if variables is not None:
        meta["variables"] = variables
    if parameters is not None:
        meta["parameters"] = parameters
    if example is not None:
        meta["example"] = example
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body


QA_VARS = {
    "question": {"type": "str", "required": True},
    "contexts": {"type": "list", "required": True},
    "tone": {"type": "str", "required": False},
}

CHAT_BODY = """\
{% block system %}
You answer from sources only.
{% endblock %}
{% block user %}
{% for c in contexts %}
<source id="{{ c.source }}">{{ c.text }}</source>
{% endfor %}
Q: {{ question }}
{% endblock %}
{% block assistant %}
Sure, citing {{ contexts | length }} sources:
{% endblock %}
"""


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    root = tmp_path / "store"
    make_prompt(
        root,
        "qa",
        {
            "v1": version_text(
                CHAT_BODY, variables=QA_VARS, parameters={"temperature": 0.2, "max_tokens": 77}
            ),
            "v2": version_text(
                "Answer {{ question }}{% if tone %} in a {{ tone }} tone{% endif %}."
                " tone-is-none={{ tone is none }}\n",
                variables=QA_VARS,
            ),
            "v3": version_text("Hello {{ nope }}!", variables={}),
            "v4": version_text(
                "{% block system %}sys{% endblock %}{% block user %}{{ nope }}{% endblock %}",
                variables={},
            ),
            "v5": version_text(
                "n={{ n }} ratio={{ ratio }} flag={{ flag }} keys={{ opts | sort | join(',') }}",
                variables={
                    "n": {"type": "int"},
                    "ratio": {"type": "float"},
                    "flag": {"type": "bool"},
                    "opts": {"type": "dict"},
                },
            ),
        },
        published=("v1",),
        aliases={"production": "v1", "staging": "v2"},
    )
    return PromptStore(root)


CONTEXTS = [
    {"source": "a.md", "text": "Alpha text."},
    {"source": "b.md", "text": "Beta text."},
]


def test_chat_blocks_become_messages_in_role_order(store: PromptStore) -> None:
    rendered = store.render("qa@v1", {"question": "What is alpha?", "contexts": CONTEXTS})

    roles = [m.role for m in rendered.messages]
    assert roles == ["system", "user", "assistant"]
    system, user, assistant = (m.content for m in rendered.messages)
    assert system == "You answer from sources only."
    assert '<source id="a.md">Alpha text.</source>' in user
    assert '<source id="b.md">Beta text.</source>' in user
    assert user.endswith("Q: What is alpha?")
    assert assistant == "Sure, citing 2 sources:"
    # Content is trimmed: no leading/trailing blank lines from the block tags.
    assert all(m.content == m.content.strip() for m in rendered.messages)


def test_only_declared_blocks_produce_messages(tmp_path: Path) -> None:
    root = tmp_path / "store"
    body = "{% block user %}hi {{ who }}{% endblock %}{% block system %}be brief{% endblock %}"
    make_prompt(root, "two", {"v1": version_text(body, variables={"who": {"type": "str"}})})

    rendered = PromptStore(root).render("two@v1", {"who": "bob"})

    assert [(m.role, m.content) for m in rendered.messages] == [
        ("system", "be brief"),
        ("user", "hi bob"),
    ]


def test_blockless_template_is_one_user_message(store: PromptStore) -> None:
    rendered = store.render("qa@v2", {"question": "why?", "contexts": [], "tone": "dry"})

    assert len(rendered.messages) == 1
    assert rendered.messages[0].role == "user"
    assert rendered.messages[0].content == "Answer why? in a dry tone. tone-is-none=False"


def test_rendered_prompt_carries_identity_hash_and_parameters(store: PromptStore) -> None:
    rendered = store.render("qa", {"question": "q", "contexts": []})  # production alias -> v1

    assert rendered.name == "qa"
    assert rendered.version == "v1"
    assert rendered.ref == "qa@v1"
    assert dict(rendered.parameters) == {"temperature": 0.2, "max_tokens": 77}
    expected_hash = content_hash((store.root / "qa" / "v1.jinja2").read_bytes())
    assert rendered.hash == expected_hash
    assert "[system]" in rendered.text
    assert "[user]" in rendered.text


def test_alias_render_uses_aliased_version(store: PromptStore) -> None:
    rendered = store.render("qa:staging", {"question": "q", "contexts": []})
    assert rendered.version == "v2"
    assert rendered.parameters == {}


def test_scalar_and_dict_types_render(store: PromptStore) -> None:
    rendered = store.render("qa@v5", {"n": 3, "ratio": 0.5, "flag": True, "opts": {"b": 1, "a": 2}})
    assert rendered.messages[0].content == "n=3 ratio=0.5 flag=True keys=a,b"


def test_missing_required_variable_names_prompt_version_and_variable(
    store: PromptStore,
) -> None:
    with pytest.raises(RenderError) as info:
        store.render("qa@v1", {"question": "q"})

    message = str(info.value)
    assert "qa@v1" in message
    assert "contexts" in message
    assert "missing" in message
    assert "question" not in message.split(":", 1)[1]  # only the missing one is blamed


def test_unknown_variable_is_rejected(store: PromptStore) -> None:
    with pytest.raises(RenderError) as info:
        store.render("qa@v1", {"question": "q", "contexts": [], "qestion": "typo"})

    message = str(info.value)
    assert "qa@v1" in message
    assert "qestion" in message
    assert "unknown" in message


def test_every_problem_is_reported_at_once(store: PromptStore) -> None:
    with pytest.raises(RenderError) as info:
        store.render("qa@v1", {"question": 5, "extra": 1})

    message = str(info.value)
    assert "contexts" in message  # missing
    assert "extra" in message  # unknown
    assert "question" in message  # wrong type


@pytest.mark.parametrize(
    ("ref", "inputs", "variable", "declared"),
    [
        ("qa@v1", {"question": 42, "contexts": []}, "question", "str"),
        ("qa@v1", {"question": "q", "contexts": "a, b"}, "contexts", "list"),
        ("qa@v1", {"question": "q", "contexts": ("a", "b")}, "contexts", "list"),
        ("qa@v5", {"n": "3", "ratio": 0.5, "flag": True, "opts": {}}, "n", "int"),
        ("qa@v5", {"n": True, "ratio": 0.5, "flag": True, "opts": {}}, "n", "int"),
        ("qa@v5", {"n": 1, "ratio": 0.5, "flag": 1, "opts": {}}, "flag", "bool"),
        ("qa@v5", {"n": 1, "ratio": 0.5, "flag": True, "opts": []}, "opts", "dict"),
    ],
)
def test_wrong_type_names_prompt_version_variable_and_type(
    store: PromptStore, ref: str, inputs: dict[str, Any], variable: str, declared: str
) -> None:
    with pytest.raises(RenderError) as info:
        store.render(ref, inputs)

    message = str(info.value)
    assert ref in message
    assert f"'{variable}'" in message
    assert f"must be {declared}" in message


def test_optional_variable_omitted_renders_as_none(store: PromptStore) -> None:
    rendered = store.render("qa@v2", {"question": "why?", "contexts": []})
    assert rendered.messages[0].content == "Answer why?. tone-is-none=True"


def test_optional_variable_accepts_explicit_none(store: PromptStore) -> None:
    rendered = store.render("qa@v2", {"question": "why?", "contexts": [], "tone": None})
    assert rendered.messages[0].content == "Answer why?. tone-is-none=True"


def test_undeclared_name_in_template_is_an_error_not_empty(store: PromptStore) -> None:
    with pytest.raises(RenderError) as info:
        store.render("qa@v3", {})

    message = str(info.value)
    assert "qa@v3" in message
    assert "nope" in message


def test_undeclared_name_inside_a_block_is_an_error(store: PromptStore) -> None:
    with pytest.raises(RenderError, match="nope") as info:
        store.render("qa@v4", {})
    assert "qa@v4" in str(info.value)


def test_undeclared_name_cannot_be_smuggled_in_as_input(store: PromptStore) -> None:
    with pytest.raises(RenderError, match="unknown variable 'nope'"):
        store.render("qa@v3", {"nope": "world"})


def test_render_errors_are_prompt_errors_with_exit_code_2(store: PromptStore) -> None:
    with pytest.raises(PromptError) as info:
        store.render("qa@v1", {})
    assert info.value.exit_code == 2


def test_template_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "store"
    text = version_text("line one\nline two\n{{ broken(\n", variables={})
    folder = make_prompt(root, "bad", {"v1": text})
    broken_line = text.splitlines().index("{{ broken(") + 1

    with pytest.raises(PromptFileError) as info:
        PromptStore(root).render("bad@v1", {})

    assert info.value.path == folder / "v1.jinja2"
    assert info.value.line == broken_line
    assert "syntax" in str(info.value)


def test_rendering_twice_is_deterministic_and_does_not_touch_inputs(store: PromptStore) -> None:
    inputs = {"question": "q", "contexts": [dict(c) for c in CONTEXTS]}
    snapshot = repr(inputs)
    first = store.render("qa@v1", inputs)
    second = store.render("qa@v1", inputs)
    assert first.messages == second.messages
    assert repr(inputs) == snapshot


def test_python_error_during_render_becomes_render_error(tmp_path: Path) -> None:
    root = tmp_path / "store"
    make_prompt(
        root, "math", {"v1": version_text("{{ 10 // n }}", variables={"n": {"type": "int"}})}
    )

    with pytest.raises(RenderError, match="math@v1"):
        PromptStore(root).render("math@v1", {"n": 0})


BASE_BODY = (
    "{% block system %}base system {{ who }}{% endblock %}{% block user %}base user{% endblock %}"
)


def test_extends_keeps_parent_blocks_the_child_does_not_override(tmp_path: Path) -> None:
    root = tmp_path / "store"
    variables = {"who": {"type": "str"}}
    make_prompt(
        root, "base", {"v1": version_text(BASE_BODY, variables=variables)}, published=("v1",)
    )
    child = "{% extends 'base/v1.jinja2' %}{% block user %}child user {{ who }}{% endblock %}"
    make_prompt(root, "child", {"v1": version_text(child, variables=variables)})

    rendered = PromptStore(root).render("child@v1", {"who": "ann"})

    assert [(m.role, m.content) for m in rendered.messages] == [
        ("system", "base system ann"),
        ("user", "child user ann"),
    ]


def test_pure_extends_renders_parent_chat_parts(tmp_path: Path) -> None:
    root = tmp_path / "store"
    variables = {"who": {"type": "str"}}
    make_prompt(
        root, "base", {"v1": version_text(BASE_BODY, variables=variables)}, published=("v1",)
    )
    make_prompt(
        root, "child", {"v1": version_text("{% extends 'base/v1.jinja2' %}", variables=variables)}
    )

    rendered = PromptStore(root).render("child@v1", {"who": "ann"})

    assert [m.role for m in rendered.messages] == ["system", "user"]
