"""The input columns as a mapping names them: repeated headers numbered, some unnameable."""

from __future__ import annotations

from collections import Counter

from ..trace import trace_columns


def header_names(headers: list[str]) -> list[str]:
    """Each column as a mapping names it: its header, ``"Email #2"`` for a repeated one."""
    counts = Counter(headers)
    seen: Counter[str] = Counter()
    names = []
    for header in headers:
        seen[header] += 1
        names.append(header if counts[header] == 1 else f"{header} #{seen[header]}")
    return names


def unnamed_columns(headers: list[str]) -> set[int]:
    """Columns a mapping cannot name: blank headers, and a repeated header's ``"Email #2"``
    when another column is headed ``Email #2`` itself (that name finds the other one); and
    a retry file's trace of where its rows came from (never sent: ``trace.py``)."""
    literal = set(headers)
    return {
        position
        for position, (header, name) in enumerate(zip(headers, header_names(headers), strict=True))
        if not header or (name != header and name in literal)
    } | set(trace_columns(headers) or ())
