"""Terminal tables that fit 80 columns: headers folded after dots and underscores, no number or word broken."""

from __future__ import annotations

import re
from typing import Any


def folded(key: str) -> str:
    """A column header that breaks after its dots and underscores (optimizer. / lr, valid_ / accuracy) instead of
    inside a word, so that a search's table fits in 80 columns."""
    return key if len(key) <= 9 else re.sub(r"(?<=[._])(?=.)", "\n", key)


def short(value: Any) -> str:
    """A cell of a terminal table or a label of a figure: numbers to 4 significant digits (an Optuna trial's lr of
    0.0007247031604703160 reads 0.0007247, an accuracy of 0.87421 reads 0.8742), whole numbers, words and a number
    already as short as that as they are, None as blank. The CSV files keep every digit."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, (bool, int)) or text.lstrip("-").isdigit():
        return text
    try:
        number = f"{float(value):.4g}"
    except (TypeError, ValueError):
        return text
    return number if isinstance(value, float) or len(text) > len(number) else text


def narrow_table(headers: list[str], rows: list[list[str]], title: str | None = None, left: tuple[str, ...] = ()):
    """A rich Table of already formatted cells: one space between columns, headers folded, and each column as wide
    as its longest cell or header word, so that nothing is wrapped mid-number (`left` columns, names, align left and
    are the only ones folded when the terminal is narrower than the table)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True, pad_edge=False)
    for i, name in enumerate(headers):
        header = folded(name)
        if name in left:  # a name or a path: folded only where nothing else would fit
            table.add_column(header, justify="left", overflow="fold", min_width=max(map(len, header.splitlines())))
            continue
        width = max(len(line) for line in [*header.splitlines(), *(row[i] for row in rows)])
        table.add_column(header, justify="right", no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*row)
    return table
