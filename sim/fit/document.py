"""A scenario file with comments: the YAML ``chatsim fit`` writes.

PyYAML writes no comments, and the comments are the point of a fitted scenario (what each value
was estimated from and how well), so the document is a small tree of :class:`Node` rendered
here: block mappings for the structure, flow style (``{dist: lognormal, mean: 40s, cv: 1.0}``,
``[1.5, 2.0, ...]``) for values, each node with its comment lines above it.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

WIDTH = 100


@dataclass
class Node:
    """``key: value`` with ``comments`` above it. ``value`` is a scalar, a flow value (dict or
    list of scalars), a list of nodes (a block mapping) or a list of lists of nodes (a block
    sequence of mappings)."""

    key: str
    value: Any
    comments: list[str] = field(default_factory=list)


def number(value: float, digits: int = 3) -> float | int:
    """``value`` rounded to ``digits`` significant digits after the point where it matters:
    whole numbers stay whole, small ones keep their first digits."""
    if value == 0 or not math.isfinite(value):
        return 0
    if float(value).is_integer() and abs(value) < 1e12:
        return int(value)
    magnitude = math.floor(math.log10(abs(value)))
    places = max(digits - 1 - magnitude, 0)
    rounded = round(value, places)
    return int(rounded) if places == 0 or float(rounded).is_integer() else rounded


def seconds(value: float) -> str:
    """A duration as a scenario writes it: ``"41.3s"`` (tenths; hundredths below 10 s)."""
    places = 2 if value < 10 else 1
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text if "e" not in text else f"{value:.12f}".rstrip("0")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and ":" in value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def flow(value: Any) -> str:
    """A value in YAML flow style, keys in the order given."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return _scalar(value)


def _wrapped(prefix: str, items: Sequence[Any], indent: int) -> list[str]:
    """A flow list broken over lines of at most :data:`WIDTH` columns."""
    text = prefix + flow(list(items))
    if len(text) <= WIDTH:
        return [text]
    lines: list[str] = []
    current = prefix + "["
    pad = " " * (indent + 2)
    for i, item in enumerate(items):
        piece = flow(item) + ("," if i < len(items) - 1 else "]")
        if len(current) + len(piece) + 1 > WIDTH and current.strip() not in ("", "["):
            lines.append(current.rstrip())
            current = pad
        current += piece + " "
    lines.append(current.rstrip())
    return lines


def _comments(comments: Sequence[str], indent: int) -> list[str]:
    """Comment lines, each wrapped at :data:`WIDTH` columns."""
    prefix = f"{' ' * indent}# "
    lines: list[str] = []
    for comment in comments:
        lines.extend(
            textwrap.wrap(
                comment,
                WIDTH,
                initial_indent=prefix,
                subsequent_indent=prefix + "  ",
                break_on_hyphens=False,
            )
            or [prefix.rstrip()]
        )
    return lines


def render(nodes: Sequence[Node], header: Sequence[str] = (), indent: int = 0) -> str:
    """The document as YAML text, ``header`` comment lines first."""
    lines = _comments(header, indent)
    lines.extend(_render(nodes, indent))
    return "\n".join(lines) + "\n"


def _render(nodes: Sequence[Node], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for node in nodes:
        lines.extend(_comments(node.comments, indent))
        key = _scalar(node.key)
        value = node.value
        if isinstance(value, list) and value and all(isinstance(v, Node) for v in value):
            lines.append(f"{pad}{key}:")
            lines.extend(_render(value, indent + 2))
        elif isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            lines.append(f"{pad}{key}:")
            for item in value:
                head, *rest = item
                lines.extend(_comments(head.comments, indent + 2))
                first = _render([Node(head.key, head.value)], indent + 4)
                lines.append(f"{pad}  - {first[0][indent + 4 :]}")
                lines.extend(first[1:])
                lines.extend(_render(rest, indent + 4))
        elif isinstance(value, list) and len(pad + key) + len(flow(value)) + 2 > WIDTH:
            lines.extend(_wrapped(f"{pad}{key}: ", value, indent))
        else:
            lines.append(f"{pad}{key}: {flow(value)}")
    return lines
