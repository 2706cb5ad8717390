"""Prompt templates as Markdown files, and ``render(name, **values)``.

A template is ``prompts/NAME.md``. Placeholders are ``{{ key }}``; every
placeholder must be given and every given value must be used, so a renamed
variable fails loudly instead of sending the model an empty section.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")

__all__ = ["render", "template"]


@cache
def template(name: str) -> str:
    """The raw text of ``prompts/NAME.md``."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"The 'name' parameter must be a template name; got {name!r} instead.")
    resource = files(__package__).joinpath(f"{name}.md")
    if not resource.is_file():
        raise ValueError(f"The 'name' parameter must name a file in prompts/; "
                         f"got {name!r} instead.")
    return resource.read_text(encoding="utf-8")


def render(name: str, **values: object) -> str:
    """The template with each ``{{ key }}`` replaced by ``str(values[key])``."""
    text = template(name)
    wanted = set(_PLACEHOLDER.findall(text))
    missing, unused = wanted - set(values), set(values) - wanted
    if missing or unused:
        raise ValueError(f"prompt {name!r}: missing values {sorted(missing)}, "
                         f"unused values {sorted(unused)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)
