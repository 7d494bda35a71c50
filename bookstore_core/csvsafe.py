"""CSV cells that a spreadsheet will not run as formulas, and back.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
read by spreadsheet programs as a formula (CSV injection). :func:`guard` puts an
apostrophe in front of such a cell, which the spreadsheet shows as text; it also
puts one in front of a cell that already starts with an apostrophe followed by one
of those characters (or another apostrophe), so :func:`unguard` can undo exactly
what :func:`guard` did: ``unguard(guard(cell)) == cell`` for every string, and a
hand-written cell such as ``'Tis`` is left alone both ways.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_AFTER_APOSTROPHE = (*FORMULA_STARTS, "'")


def guard(cell: object) -> str:
    text = "" if cell is None else str(cell)
    if text.startswith(FORMULA_STARTS) or (text.startswith("'") and text[1:].startswith(_AFTER_APOSTROPHE)):
        return "'" + text
    return text


def unguard(cell: str) -> str:
    if cell[:1] == "'" and cell[1:].startswith(_AFTER_APOSTROPHE):
        return cell[1:]
    return cell


def csv_line(cells: Iterable[object]) -> str:
    """One CSV record (RFC 4180 quoting, CRLF), every cell guarded."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([guard(cell) for cell in cells])
    return out.getvalue()


def csv_document(header: Iterable[str], rows: Iterable[Iterable[object]]) -> bytes:
    """A whole CSV document in UTF-8: the header, then each row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([guard(cell) for cell in row])
    return out.getvalue().encode()
