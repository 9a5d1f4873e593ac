"""The page: one self-contained HTML document (inline CSS, images as data URIs, no scripts).

Every piece of text that comes from input files goes through :func:`esc`. Sections carry a
stable ``id`` and ``data-figure`` name so that links, tests and people can find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from sim.report.style import BAD, GOOD


def esc(text: object) -> str:
    """HTML-escaped text (quotes included, so it is safe in attributes too)."""
    return escape(str(text), quote=True)


@dataclass(frozen=True, slots=True)
class Section:
    """One part of the page: ``name`` is its ``id`` and ``data-figure``; ``body`` is HTML."""

    name: str
    title: str
    body: str


def figure(image: str, alt: str, caption: str) -> str:
    """An embedded image (a data URI) with a caption; ``caption`` is HTML."""
    if not image.startswith("data:image/"):
        raise ValueError("figures must be embedded as data URIs")
    return (
        f'<figure><img src="{image}" alt="{esc(alt)}" loading="eager">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, cls: str = "") -> str:
    """A table; cells are HTML (escape them first), a cell may carry its own ``<td ...>``."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


CSS = f"""
:root {{ --good: {GOOD}; --bad: {BAD}; --ink: #212529; --muted: #6c757d; --line: #dee2e6; }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
  sans-serif; color: var(--ink); background: #f1f3f5; }}
header {{ background: #1f4e79; color: #fff; padding: 18px 28px 12px; }}
header h1 {{ margin: 0 0 4px; font-size: 24px; }}
header p {{ margin: 2px 0; color: #d0ebff; }}
nav {{ margin-top: 10px; display: flex; flex-wrap: wrap; gap: 6px; }}
nav a {{ color: #fff; background: rgba(255,255,255,.14); padding: 2px 10px; border-radius: 12px;
  text-decoration: none; font-size: 13px; }}
main {{ max-width: 1160px; margin: 0 auto; padding: 12px 20px 40px; }}
section {{ background: #fff; border-radius: 8px; padding: 14px 20px 16px; margin: 16px 0;
  box-shadow: 0 1px 2px rgba(0,0,0,.06); }}
section h2 {{ margin: 0 0 10px; font-size: 18px; }}
figure {{ margin: 0; }}
figure img {{ width: 100%; height: auto; display: block; }}
figcaption, .note {{ color: var(--muted); font-size: 13px; margin-top: 6px; }}
.cards {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; }}
.card {{ border: 1px solid var(--line); border-top: 5px solid var(--muted); border-radius: 6px;
  padding: 10px 12px; }}
.card.pass {{ border-top-color: var(--good); }}
.card.fail {{ border-top-color: var(--bad); }}
.card .what {{ font-size: 13px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .03em; }}
.card .big {{ font-size: 30px; font-weight: 650; line-height: 1.2; }}
.card.pass .big {{ color: var(--good); }}
.card.fail .big {{ color: var(--bad); }}
.card .ci, .card .target {{ font-size: 12.5px; color: var(--muted); }}
.card .other {{ font-size: 14px; margin-top: 2px; }}
.pass-text {{ color: var(--good); font-weight: 600; }}
.fail-text {{ color: var(--bad); font-weight: 600; }}
table {{ border-collapse: collapse; width: 100%; font-size: 14px;
  font-variant-numeric: tabular-nums; }}
th, td {{ padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f8f9fa; font-weight: 600; }}
td.pass {{ background: #ebfbee; color: var(--good); }}
td.fail {{ background: #fff5f5; color: var(--bad); }}
td.over {{ background: #fff9db; color: #8a6d00; }}
td.near {{ background: #fff4e6; color: #d9480f; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; }}
.badge {{ display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff;
  font-weight: 600; }}
.badge.pass {{ background: var(--good); }}
.badge.fail {{ background: var(--bad); }}
.warn {{ background: #fff4e6; border-left: 4px solid #f08c00; padding: 6px 10px; }}
"""


def page(title: str, subtitle: Sequence[str], sections: Sequence[Section]) -> str:
    """The whole document; ``title`` and ``subtitle`` are plain text, sections are HTML."""
    nav = "".join(f'<a href="#{esc(s.name)}">{esc(s.title)}</a>' for s in sections)
    lines = "".join(f"<p>{esc(line)}</p>" for line in subtitle)
    body = "\n".join(
        f'<section id="{esc(s.name)}" data-figure="{esc(s.name)}">'
        f"<h2>{esc(s.title)}</h2>\n{s.body}</section>"
        for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body><header><h1>{esc(title)}</h1>{lines}<nav>{nav}</nav></header>\n"
        f"<main>\n{body}\n</main></body></html>\n"
    )
