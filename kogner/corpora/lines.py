"""Blank-line separated blocks of a text file, the shape of IOB sentences and PubTator documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def blank_line_blocks(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(number of the block's first line, its lines without line ends)`` for each block of non-blank lines; lines
    of a block are consecutive in the file, so line ``i`` of a block is file line ``first + i``. CRLF line ends and
    a last block without a closing blank line are accepted."""
    lines: list[str] = []
    first = 0
    with path.open(encoding="utf-8", newline="") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if lines:
                    yield first, lines
                lines = []
                continue
            if not lines:
                first = number
            lines.append(line)
    if lines:
        yield first, lines
