"""A report as a 16:9 PowerPoint deck (python-pptx): a title slide, then one slide per page of each section.

Shapes are placed by hand (python-pptx's default layouts keep 4:3 placeholder positions on a 16:9 deck): the title
placeholder of the "Title Only" layout is moved to the top, and the page's blocks share the area below it in two
columns (even blocks left, odd blocks right), or one above the other under a wide table. Tables and texts too long
for one slide continue on the next ones.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from nnl.report.document import Block, Document, Page, Picture, Table, Text

__all__ = ["render_pptx"]

_EMU_WIDTH, _EMU_HEIGHT = 12192000, 6858000  # 16:9 exactly (13.33 x 7.5 inches; 914400 EMU per inch)
_WIDTH, _HEIGHT = _EMU_WIDTH / 914400, _EMU_HEIGHT / 914400
_MARGIN, _TOP, _GAP = 0.5, 1.35, 0.3
_TABLE_ROWS, _TEXT_LINES = 14, 12  # per slide


@dataclass
class _Box:
    left: float
    top: float
    width: float
    height: float


def _chunks(block: Block) -> list[Block]:
    """The block cut into pieces that each fit one slide."""
    if isinstance(block, Table) and len(block.rows) > _TABLE_ROWS:
        return [Table(block.header, block.rows[i:i + _TABLE_ROWS], block.numeric)
                for i in range(0, len(block.rows), _TABLE_ROWS)]
    if isinstance(block, Text) and len(block.lines) > _TEXT_LINES:
        return [Text(block.lines[i:i + _TEXT_LINES]) for i in range(0, len(block.lines), _TEXT_LINES)]
    return [block]


def _slides_of(page: Page) -> list[list[Block]]:
    pieces = [_chunks(block) for block in page.blocks]
    count = max((len(p) for p in pieces), default=1)
    return [[p[k] for p in pieces if k < len(p)] for k in range(count)]


def _weight(block: Block) -> float:
    """Rough height demand of a block, to share a column between blocks."""
    if isinstance(block, Table):
        return len(block.rows) + 1.5
    if isinstance(block, Text):
        return 1.5 * len(block.lines) + 1
    return 12.0


def _layout(blocks: list[Block]) -> list[tuple[Block, _Box]]:
    area_width, area_height = _WIDTH - 2 * _MARGIN, _HEIGHT - _TOP - 0.3
    if len(blocks) == 1:
        return [(blocks[0], _Box(_MARGIN, _TOP, area_width, area_height))]
    if isinstance(blocks[0], Table) and len(blocks[0].header) >= 5:  # a wide table takes the width, the rest below
        usable = area_height - _GAP * (len(blocks) - 1)
        total = sum(_weight(b) for b in blocks)
        placed, top = [], _TOP
        for block in blocks:
            height = usable * _weight(block) / total
            placed.append((block, _Box(_MARGIN, top, area_width, height)))
            top += height + _GAP
        return placed
    first_share = 0.58 if isinstance(blocks[0], Picture) else 0.5
    widths = [area_width * first_share - _GAP / 2, area_width * (1 - first_share) - _GAP / 2]
    lefts = [_MARGIN, _MARGIN + widths[0] + _GAP]
    placed = []
    for column in (0, 1):
        stack = blocks[column::2]
        total = sum(_weight(b) for b in stack)
        top = _TOP
        usable = area_height - _GAP * (len(stack) - 1)
        for block in stack:
            height = usable * _weight(block) / total
            placed.append((block, _Box(lefts[column], top, widths[column], height)))
            top += height + _GAP
    return placed


def _font_size(lines: list[str], box: _Box) -> int:
    """The largest of a few sizes at which the wrapped lines fit the box (estimated from character counts)."""
    for points in (18, 16, 14, 12, 11, 10, 9):
        characters_per_line = max(1, int(box.width / (0.52 * points / 72)))
        wrapped = sum(max(1, math.ceil(len(line) / characters_per_line)) for line in lines)
        if wrapped * 1.35 * points / 72 + 0.1 * len(lines) <= box.height:
            return points
    return 8


def _add_text(slide: Any, block: Text, box: _Box) -> None:
    from pptx.util import Inches, Pt

    shape = slide.shapes.add_textbox(Inches(box.left), Inches(box.top), Inches(box.width), Inches(box.height))
    frame = shape.text_frame
    frame.word_wrap = True
    size = _font_size(block.lines, box)
    for i, line in enumerate(block.lines):
        paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        paragraph.text = line
        paragraph.font.size = Pt(size)
        paragraph.space_after = Pt(size * 0.4)


def _add_table(slide: Any, block: Table, box: _Box) -> None:
    from pptx.enum.text import PP_ALIGN
    from pptx.util import Inches, Pt

    rows, columns = len(block.rows) + 1, len(block.header)
    row_height = min(0.4, box.height / rows)
    shape = slide.shapes.add_table(rows, columns, Inches(box.left), Inches(box.top), Inches(box.width),
                                   Inches(row_height * rows))
    table = shape.table
    lengths = [max(len(str(r[c])) for r in [block.header, *block.rows]) for c in range(columns)]
    weights = [min(max(n, 4), 40) for n in lengths]
    for c, weight in enumerate(weights):
        table.columns[c].width = Inches(box.width * weight / sum(weights))
    size = Pt(11 if row_height >= 0.3 and columns <= 5 else 9)
    for r, values in enumerate([block.header, *block.rows]):
        table.rows[r].height = Inches(row_height)
        for c, value in enumerate(values):
            cell = table.cell(r, c)
            cell.text = str(value)
            cell.margin_top = cell.margin_bottom = Inches(0.02)
            for paragraph in cell.text_frame.paragraphs:
                paragraph.font.size = size
                if r > 0 and c in block.numeric:
                    paragraph.alignment = PP_ALIGN.RIGHT


def _add_picture(slide: Any, block: Picture, box: _Box) -> None:
    from PIL import Image
    from pptx.util import Inches, Pt

    with Image.open(io.BytesIO(block.png)) as image:
        pixels_wide, pixels_high = image.size
    caption_height = 0.35
    scale = min(box.width / pixels_wide, (box.height - caption_height) / pixels_high)
    width, height = pixels_wide * scale, pixels_high * scale
    left = box.left + (box.width - width) / 2
    picture = slide.shapes.add_picture(io.BytesIO(block.png), Inches(left), Inches(box.top), Inches(width),
                                       Inches(height))
    picture.name = block.caption[:200]
    caption = slide.shapes.add_textbox(Inches(box.left), Inches(box.top + height + 0.05), Inches(box.width),
                                       Inches(caption_height - 0.05))
    caption.text_frame.word_wrap = True
    paragraph = caption.text_frame.paragraphs[0]
    paragraph.text = block.caption
    paragraph.font.size = Pt(10)
    paragraph.font.italic = True


def _add_block(slide: Any, block: Block, box: _Box) -> None:
    if isinstance(block, Text):
        _add_text(slide, block, box)
    elif isinstance(block, Table):
        _add_table(slide, block, box)
    else:
        _add_picture(slide, block, box)


def _place_title(slide: Any, text: str) -> None:
    from pptx.util import Inches, Pt

    title = slide.shapes.title
    title.left, title.top, title.width, title.height = Inches(_MARGIN), Inches(0.3), Inches(_WIDTH - 2 * _MARGIN), \
        Inches(0.9)
    title.text = text
    for paragraph in title.text_frame.paragraphs:
        paragraph.font.size = Pt(28)


def render_pptx(document: Document) -> bytes:
    """The whole document as the bytes of a .pptx file."""
    from pptx import Presentation
    from pptx.util import Emu, Inches, Pt

    deck = Presentation()
    deck.slide_width, deck.slide_height = Emu(_EMU_WIDTH), Emu(_EMU_HEIGHT)
    cover = deck.slides.add_slide(deck.slide_layouts[0])  # "Title Slide"
    _place_title(cover, document.title)
    cover.shapes.title.top, cover.shapes.title.height = Inches(2.2), Inches(1.4)
    subtitle = cover.placeholders[1]
    subtitle.left, subtitle.top, subtitle.width, subtitle.height = Inches(_MARGIN), Inches(3.8), \
        Inches(_WIDTH - 2 * _MARGIN), Inches(1.5)
    subtitle.text = "\n".join(document.subtitle)
    for paragraph in subtitle.text_frame.paragraphs:
        paragraph.font.size = Pt(16)

    for section in document.sections:
        for page in section.pages:
            for k, blocks in enumerate(_slides_of(page)):
                slide = deck.slides.add_slide(deck.slide_layouts[5])  # "Title Only"
                title = section.title + (f": {page.subtitle}" if page.subtitle else "") + (" (cont.)" if k else "")
                _place_title(slide, title)
                for block, box in _layout(blocks):
                    _add_block(slide, block, box)
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()
