"""Prompt templates: every placeholder filled, every value used, every file renders."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from prompts import render, template

# The keys each template's caller passes (tools.request, tools.explain); a template that
# gains or loses a placeholder must change its caller and this table together.
DOCUMENTED_KEYS: dict[str, set[str]] = {
    "intake": {"sentence", "columns", "bundled", "metrics", "families", "found", "wanted"},
    "explain": {"question", "facts"},
}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_TEMPLATES = sorted(p.name.removesuffix(".md") for p in files("prompts").iterdir()
                    if p.name.endswith(".md"))


def test_render_replaces_every_placeholder() -> None:
    text = render("explain", question="Why did the forest win?", facts="- fact one")
    assert "Question: Why did the forest win?" in text
    assert "- fact one" in text
    assert "{{" not in text


def test_a_missing_value_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"missing values \['facts'\]"):
        render("explain", question="q")


def test_an_unused_value_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"unused values \['extra'\]"):
        render("explain", question="q", facts="f", extra="x")


@pytest.mark.parametrize("name", ["no_such_template", "../pyproject", "Explain", ""])
def test_an_unknown_template_is_an_error(name: str) -> None:
    with pytest.raises(ValueError, match="'name' parameter"):
        render(name)


def test_values_are_inserted_verbatim() -> None:
    text = render("explain", question="{{ facts }}", facts="a {{ b }} c")
    assert "Question: {{ facts }}" in text  # a value is never rendered again
    assert "a {{ b }} c" in text


@pytest.mark.parametrize("name", sorted(DOCUMENTED_KEYS))
def test_documented_templates_have_exactly_their_keys(name: str) -> None:
    assert name in _TEMPLATES
    assert set(_PLACEHOLDER.findall(template(name))) == DOCUMENTED_KEYS[name]


@pytest.mark.parametrize("name", _TEMPLATES)
def test_every_template_renders_with_its_keys(name: str) -> None:
    keys = DOCUMENTED_KEYS.get(name) or set(_PLACEHOLDER.findall(template(name)))
    text = render(name, **{key: f"<{key}>" for key in keys})
    assert all(f"<{key}>" in text for key in keys)
    assert "{{" not in text and "}}" not in text, "a malformed placeholder was left behind"
    assert text.strip()
