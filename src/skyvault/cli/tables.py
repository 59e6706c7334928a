"""Tables that fit the console without cutting identifiers.

Rich shrinks every column of a table wider than the console, so at 80 columns every job ID was cut to the same
prefix (``job-019ad8…``): useless, since IDs are what users copy into the next command. Here identifier columns
always keep their full width; the other columns share what is left (folding their text over several lines),
and when even that cannot fit, optional columns are hidden, least useful first, with a caption naming them
(``--json`` or a wider console shows everything).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

MIN_TEXT_WIDTH = 10  # narrower than this, folded text is harder to read than a hidden column
_PADDING = 2  # rich's default cell padding (one space each side)


@dataclass(frozen=True)
class Column:
    header: str
    identifier: bool = False  # never shrunk nor hidden: users copy it into other commands
    hide_rank: int | None = None  # optional column: hidden when the console is too narrow, highest rank first
    justify: str = "left"


def _cell_width(text: str) -> int:
    return max((Text.from_markup(line).cell_len for line in text.splitlines()), default=0)


def _natural(columns: list[Column], rows: list[list[str]]) -> list[int]:
    return [max([_cell_width(c.header), *(_cell_width(r[i]) for r in rows)]) for i, c in enumerate(columns)]


def _needed(columns: list[Column], natural: list[int]) -> int:
    """The narrowest this table can be: identifiers whole, other text at least MIN_TEXT_WIDTH, plus borders."""
    content = sum(w if c.identifier else min(w, MIN_TEXT_WIDTH) for c, w in zip(columns, natural, strict=True))
    return content + len(columns) * _PADDING + len(columns) + 1


def _share(columns: list[Column], natural: list[int], width: int) -> list[int]:
    """Column widths: identifiers natural, the rest water-filled into what remains (never above natural)."""
    widths = [w if c.identifier else min(w, MIN_TEXT_WIDTH) for c, w in zip(columns, natural, strict=True)]
    spare = width - _needed(columns, natural)
    growable = [i for i, c in enumerate(columns) if not c.identifier and widths[i] < natural[i]]
    while spare > 0 and growable:
        step = max(1, spare // len(growable))
        for i in list(growable):
            grow = min(step, natural[i] - widths[i], spare)
            widths[i] += grow
            spare -= grow
            if widths[i] >= natural[i]:
                growable.remove(i)
            if spare == 0:
                break
    return widths


def print_table(console: Console, title: str, columns: list[Column], rows: list[list[str]]) -> None:
    """Print ``rows`` under ``columns`` within ``console.width``; identifier columns are never cut."""
    natural = _natural(columns, rows)

    def fits(indexes: list[int]) -> bool:
        return _needed([columns[i] for i in indexes], [natural[i] for i in indexes]) <= console.width

    # The required columns, then each optional one, most useful first, that still fits.
    shown = [i for i, c in enumerate(columns) if c.hide_rank is None]
    for _, index in sorted((c.hide_rank, i) for i, c in enumerate(columns) if c.hide_rank is not None):
        if fits(sorted([*shown, index])):
            shown = sorted([*shown, index])
    hidden = [c.header for i, c in enumerate(columns) if i not in shown]
    kept = [columns[i] for i in shown]
    widths = _share(kept, [natural[i] for i in shown], console.width)
    caption = f"hidden at {console.width} columns: {', '.join(hidden)} (--json shows them)" if hidden else None
    table = Table(title=title, caption=caption)
    for column, width in zip(kept, widths, strict=True):
        # When even the minimum does not fit (a very narrow console), rich shrinks everything; "fold" then
        # wraps an identifier (it has no spaces) over two lines instead of cutting it.
        table.add_column(
            column.header,
            width=width,
            overflow="fold",
            justify="right" if column.justify == "right" else "left",
        )
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    console.print(table)
