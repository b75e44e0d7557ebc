"""Markdown tables of the analysis tools."""
from typing import Sequence


def markdown_table(rows: Sequence[Sequence[object]], pad: bool = True) -> str:
    """A markdown table; ``rows[0]`` is the header.

    With ``pad`` every column is as wide as its widest cell (readable as
    plain text); without, cells are written as they are (``|---|``).
    """
    rows = [[str(cell) for cell in row] for row in rows]
    if pad:
        widths = [max(len(row[i]) for row in rows)
                  for i in range(len(rows[0]))]
        rows = [[cell.ljust(width) for cell, width in zip(row, widths)]
                for row in rows]
        rule = '|' + '|'.join('-' * (width + 2) for width in widths) + '|'
    else:
        rule = '|' + '|'.join('---' for _ in rows[0]) + '|'
    lines = ['| ' + ' | '.join(row) + ' |' for row in rows]
    lines.insert(1, rule)
    return '\n'.join(lines)
