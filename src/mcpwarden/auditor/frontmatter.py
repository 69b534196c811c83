"""YAML frontmatter of SKILL.md files."""

from __future__ import annotations

from typing import Any

import yaml


def split_frontmatter(text: str) -> tuple[str | None, str, int]:
    """(frontmatter text or None, body, 1-based line where the frontmatter text starts)."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, text, 1
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), 2
    return None, text, 1


def parse_frontmatter(text: str) -> tuple[dict[str, Any] | None, str, str | None]:
    """(frontmatter mapping or None, body, error). A missing frontmatter is an error for a skill."""
    head, body, _ = split_frontmatter(text)
    if head is None:
        return None, body, "no YAML frontmatter between '---' lines"
    try:
        data = yaml.safe_load(head)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 2}: " if mark is not None else ""
        return None, body, f"{where}frontmatter is not valid YAML"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, body, "frontmatter is not a mapping of keys"
    return data, body, None
