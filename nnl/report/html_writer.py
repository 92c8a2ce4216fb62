"""A report as one self-contained HTML file: inline CSS, pictures as base64 PNG ``data:`` URLs, no scripts."""

from __future__ import annotations

import base64
from html import escape

from nnl.report.document import Block, Document, Picture, Table, Text

__all__ = ["render_html"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } .subtitle { color: #666; margin-top: 0; }
nav a { margin-right: 1em; } section { margin-top: 2.5em; border-top: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
"""


def _block(block: Block) -> str:
    if isinstance(block, Text):
        return "\n".join(f"<p>{escape(line)}</p>" for line in block.lines)
    if isinstance(block, Table):
        head = "".join(f"<th>{escape(h)}</th>" for h in block.header)
        body = "\n".join(
            "<tr>" + "".join(f'<td class="num">{escape(c)}</td>' if i in block.numeric else f"<td>{escape(c)}</td>"
                             for i, c in enumerate(row)) + "</tr>"
            for row in block.rows)
        return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    if isinstance(block, Picture):
        data = base64.b64encode(block.png).decode("ascii")
        caption = escape(block.caption)
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
                f"<figcaption>{caption}</figcaption></figure>")
    raise TypeError(f"render_html: unknown block {type(block).__name__}")


def render_html(document: Document) -> str:
    """The whole document as an HTML page."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(document.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(document.title)}</h1>",
        *(f'<p class="subtitle">{escape(line)}</p>' for line in document.subtitle),
        "<nav>" + "".join(f'<a href="#{s.key}">{escape(s.title)}</a>' for s in document.sections) + "</nav>",
    ]
    for section in document.sections:
        parts.append(f'<section id="{section.key}"><h2>{escape(section.title)}</h2>')
        for page in section.pages:
            if page.subtitle:
                parts.append(f"<h3>{escape(page.subtitle)}</h3>")
            parts.extend(_block(block) for block in page.blocks)
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
