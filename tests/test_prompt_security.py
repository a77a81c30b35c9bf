"""Template injection: the sandbox, the static underscore check and the include jail."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from ragwright.errors import PromptError, RagwrightError, TemplateSecurityError
from ragwright.prompts.files import content_hash, read_manifest, write_manifest
from ragwright.prompts.model import Manifest, VersionRecord
from ragwright.prompts.store import PromptStore
from tests.conftest import PUBLISHED_AT

LEAK_MARKERS = ("class", "subclasses", "<module", "os.", "popen", "globals", "mro")


def version_text(body: str, variables: dict[str, Any] | None = None) -> str:
    meta = {"description": "security test", "model": "gpt-4o-mini", "variables": variables or {}}
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body


def add_version(root: Path, name: str, vid: str, text: str, *, published: bool = False) -> Path:
    """A version file; ``published`` records its hash, as the only kind an include may load."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{vid}.jinja2"
    path.write_text(text, encoding="utf-8")
    manifest = (
        read_manifest(folder / "prompt.yaml")
        if (folder / "prompt.yaml").exists()
        else Manifest(name=name)
    )
    if published:
        manifest.versions[vid] = VersionRecord(
            hash=content_hash(path.read_bytes()), published_at=PUBLISHED_AT
        )
    write_manifest(folder / "prompt.yaml", manifest)
    return path


X_VAR = {"x": {"type": "str", "required": True}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    root.mkdir()
    return root


def render_payload(root: Path, payload: str) -> str:
    add_version(root, "evil", "v1", version_text(payload, X_VAR))
    rendered = PromptStore(root).render("evil@v1", {"x": "abc"})
    return rendered.text


SSTI_PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ request['__class__'] }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ config.__class__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ x.__dict__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ (x|attr('__class__')) }}",
    "{{ joiner.__init__.__globals__['os'].popen('id').read() }}",
    "{{ range.__self__ }}",
    "{{ lipsum|attr('__globals__') }}",
    "{{ x['__cla' ~ 'ss__'] }}",  # dynamic key: invisible to the static check
    "{% set k = '__class__' %}{{ x[k] }}",  # key through a variable
    "{{ '{0.__class__}'.format(x) }}",  # str.format attribute lookup
    "{{ x|attr('__class__')|string }}",
    "{{ [x|attr('__class__')]|join }}",
    "{% set y = x.__class__ %}{{ y }}",
    "{% block system %}{{ x.__class__.__mro__ }}{% endblock %}{% block user %}u{% endblock %}",
    "{{ self.__dict__ }}",
    "{{ '%s'|format(x.__class__) }}",
]


@pytest.mark.parametrize("payload", SSTI_PAYLOADS)
def test_ssti_payload_is_refused(root: Path, payload: str) -> None:
    output = None
    with pytest.raises(TemplateSecurityError):
        output = render_payload(root, payload)
    assert output is None


# Payloads that the sandbox neutralises by turning the attribute into an undefined
# value that is never printed: they may render or raise, but must never leak.
NEUTRALISED_PAYLOADS = [
    "{{ x|attr('__class__') is defined }}",
    "{{ ['a']|map(attribute='__class__')|list }}",
    "{{ [x|attr('__class__')] }}",
    "{{ x|attr('__class__')|default('safe') }}",
    "{{ x|attr('__cla' ~ 'ss__')|attr('__mro__') }}",
    "{{ {'a': x|attr('__class__')} }}",
]


@pytest.mark.parametrize("payload", NEUTRALISED_PAYLOADS)
def test_neutralised_payload_never_leaks(root: Path, payload: str) -> None:
    try:
        output = render_payload(root, payload)
    except RagwrightError:
        return
    lowered = output.lower()
    for marker in LEAK_MARKERS:
        assert marker not in lowered, f"{payload!r} leaked {output!r}"


def test_static_check_names_the_file_and_attribute(root: Path) -> None:
    path = add_version(root, "evil", "v1", version_text("{{ x.__dict__ }}", X_VAR))

    with pytest.raises(TemplateSecurityError) as info:
        PromptStore(root).render("evil@v1", {"x": "abc"})

    assert str(path) in str(info.value)
    assert "__dict__" in str(info.value)
    assert info.value.exit_code == 2


def test_static_check_runs_before_any_output(root: Path) -> None:
    # Even when the template's first statement is harmless, an unsafe access anywhere
    # makes the whole template refuse to render.
    add_version(
        root,
        "evil",
        "v1",
        version_text("ok {{ x }}{% if false %}{{ x.__class__ }}{% endif %}", X_VAR),
    )
    with pytest.raises(TemplateSecurityError):
        PromptStore(root).render("evil@v1", {"x": "abc"})


@pytest.mark.parametrize(
    ("expression", "inputs"),
    [
        ("{{ contexts.append(1) }}", {"contexts": ["a"]}),
        ("{{ contexts.pop() }}", {"contexts": ["a"]}),
        ("{{ contexts.clear() }}", {"contexts": ["a"]}),
        ("{{ contexts.extend([1]) }}", {"contexts": ["a"]}),
        ("{% set _ = contexts.insert(0, 'z') %}{{ contexts }}", {"contexts": ["a"]}),
        ("{{ contexts[0].update({'text': 'pwned'}) }}", {"contexts": [{"text": "a"}]}),
        ("{{ contexts[0].setdefault('k', 1) }}", {"contexts": [{"text": "a"}]}),
        ("{{ contexts[0].pop('text') }}", {"contexts": [{"text": "a"}]}),
    ],
)
def test_inputs_cannot_be_mutated_by_the_template(
    root: Path, expression: str, inputs: dict[str, Any]
) -> None:
    add_version(root, "mut", "v1", version_text(expression, {"contexts": {"type": "list"}}))
    before = repr(inputs)

    with pytest.raises(TemplateSecurityError, match="mut@v1"):
        PromptStore(root).render("mut@v1", inputs)

    assert repr(inputs) == before


@pytest.fixture
def outside_secret(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    secret = folder / "secret.jinja2"
    secret.write_text("TOPSECRET-CONTENT\n", encoding="utf-8")
    return secret


@pytest.mark.parametrize(
    "statement",
    [
        "{% include '../outside/secret.jinja2' %}",
        "{% include 'evil/../../outside/secret.jinja2' %}",
        "{% include '../../etc/passwd' %}",
        "{% include '/etc/passwd' %}",
        "{% include '{secret}' %}",  # absolute path of a real file outside the root
        "{% import '../outside/secret.jinja2' as m %}{{ m }}",
        "{% from '../outside/secret.jinja2' import nothing %}",
        "{% extends '../outside/secret.jinja2' %}",
        "{% block user %}{% include '../outside/secret.jinja2' %}{% endblock %}",
    ],
)
def test_include_outside_the_root_fails_with_a_ragwright_error(
    root: Path, outside_secret: Path, statement: str
) -> None:
    statement = statement.replace("{secret}", str(outside_secret))
    add_version(root, "evil", "v1", version_text(statement))

    with pytest.raises(PromptError) as info:
        PromptStore(root).render("evil@v1", {})

    assert not isinstance(info.value, jinja2.TemplateError)
    assert "evil@v1" in str(info.value)
    assert "TOPSECRET" not in str(info.value)


def test_symlink_inside_the_root_cannot_escape_it(root: Path, outside_secret: Path) -> None:
    add_version(root, "evil", "v1", version_text("{% include 'evil/link.jinja2' %}"))
    os.symlink(outside_secret, root / "evil" / "link.jinja2")

    with pytest.raises(PromptError) as info:
        PromptStore(root).render("evil@v1", {})
    assert "TOPSECRET" not in str(info.value)


def test_version_file_symlinked_outside_the_root_is_refused_cleanly(
    root: Path, outside_secret: Path
) -> None:
    add_version(root, "evil", "v1", version_text("ok"))
    outside_version = outside_secret.with_name("version.jinja2")
    outside_version.write_text(version_text("TOPSECRET {{ 1 }}"), encoding="utf-8")
    os.symlink(outside_version, root / "evil" / "v2.jinja2")

    with pytest.raises(PromptError):
        PromptStore(root).render("evil@v2", {})


def test_include_of_another_prompt_inside_the_root_works(root: Path) -> None:
    shared_vars = {"x": {"type": "str"}, "unused": {"type": "int", "required": False}}
    add_version(
        root, "shared", "v1", version_text("shared text for {{ x }}\n", shared_vars), published=True
    )
    body = (
        "{% block system %}{% include 'shared/v1.jinja2' %}{% endblock %}"
        "{% block user %}question {{ x }}{% endblock %}"
    )
    add_version(root, "main", "v1", version_text(body, X_VAR))

    rendered = PromptStore(root).render("main@v1", {"x": "abc"})

    system, user = rendered.messages
    assert system.role == "system"
    assert system.content == "shared text for abc"
    assert "---" not in system.content
    assert "description" not in system.content  # front matter stripped
    assert user.content == "question abc"


def test_included_template_is_still_sandboxed(root: Path) -> None:
    # The static check reads only the rendered version's own source; the sandbox must
    # still stop an unsafe attribute hidden in an included file.
    add_version(root, "shared", "v1", version_text("{{ ''.__class__.__mro__ }}"), published=True)
    add_version(root, "main", "v1", version_text("{% include 'shared/v1.jinja2' %}"))

    with pytest.raises(TemplateSecurityError):
        PromptStore(root).render("main@v1", {})


def test_include_of_missing_file_inside_root_is_a_render_error(root: Path) -> None:
    add_version(root, "main", "v1", version_text("{% include 'nope/v9.jinja2' %}"))
    with pytest.raises(PromptError, match=r"nope/v9\.jinja2"):
        PromptStore(root).render("main@v1", {})
