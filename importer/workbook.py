"""Workbooks an analyst reads at a glance: the ``.xlsx`` report, the retry workbook and the
summary workbook beside a CSV report.

- the report: sheet **Rows** (the reconciliation, header frozen, autofilter, status cells
  coloured, errors wrapped), **Summary** (counts, charts, the most frequent errors) and
  **Retry** (the rows to resend, original columns only);
- the retry workbook: those rows as text exactly as read, each bad cell filled amber with
  its error as a comment, to fix in Excel and feed straight back in.

Written with XlsxWriter in ``constant_memory`` mode: each row goes to disk as it comes, so
a million rows keep memory flat (openpyxl's write-only mode took twice as long for the
same rows: ``benchmarks/workbook.py``). The rows of the big sheets (Rows, Retry) are
written as XML text by ``sheet_xml`` (the bytes XlsxWriter's ``write_string`` and
``write_number`` would write, ten times faster) and deflated as they come, beside the
checks (``streamed_zip``); XlsxWriter writes the rest (headers, widths, panes, filter,
comments, Summary, charts, styles). Every input cell is written as text, never a formula,
whatever it starts with, and so are references and activity IDs (``00042`` is not 42);
only the program's own numbers (``source_row``, ``http_status``, ``attempts``, counts)
are numbers.
Charts refer only to cells this module wrote.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from . import sheet_xml
from .errors import ReportError
from .excel_text import (
    EXCEL_MAX_ROWS,
    excel_problem,
    fit_as_they_are,
    longest_in_excel,
    shown_in_excel,
)
from .outcome import GOT_IN, OUTCOME_COLUMNS, STATUS_ORDER, Status, split_errors
from .problems import TOP_ERRORS, ProblemTally
from .workbook_file import discard_book, open_book, save_book, write_text

#: (cell fill, text colour, bar colour) per status: done green, to fix amber, failed red
STATUS_COLOURS: dict[str, tuple[str, str, str]] = {
    Status.VALID: ("#C6EFCE", "#006100", "#5B9B5B"),
    Status.IMPORTED: ("#C6EFCE", "#006100", "#5B9B5B"),
    Status.UNCHANGED: ("#C6EFCE", "#006100", "#9BC99B"),
    Status.INVALID: ("#FFEB9C", "#9C5700", "#E6A117"),
    Status.REJECTED: ("#FFEB9C", "#9C5700", "#F2C75C"),
    Status.FAILED: ("#FFC7CE", "#9C0006", "#C0504D"),
    Status.SKIPPED: ("#E7E6E6", "#3A3838", "#A6A6A6"),
}
AMBER = "#FFC000"
#: width (characters) of the outcome columns; errors wrap within theirs
OUTCOME_WIDTHS = (11, 10, 30, 12, 11, 9, 60)
#: Summary columns: label / field, count, error message, first rows, example
SUMMARY_WIDTHS = (20, 10, 48, 13, 40)
#: comments beyond this many in one sheet are left out (the cells are still filled), and
#: rows beyond this many keep the default height (wrapped errors grow as Excel fits them):
#: XlsxWriter holds both until the file is saved, so memory stays flat only if bounded
MAX_COMMENTS = 10_000
MAX_ROW_HEIGHTS = 10_000
#: rows joined into one string and handed to the compressing thread at once (~1 MB)
BLOCK_ROWS = 1024


def _too_many_rows(path: Path) -> ReportError:
    return ReportError(
        f"{path.name} would have more rows than an Excel sheet holds ({EXCEL_MAX_ROWS:,}); "
        "use a .csv --report (and --retry-format csv) for this file"
    )


def _number(text: str) -> int | None:
    """A whole number this program wrote (a status, a count), else None: stays text."""
    return int(text) if text.isdigit() and len(text) <= 15 else None


def _program_numbers(column: int, numbers: list[str], texts: list[str], style: str) -> list[str]:
    """Cells of texts this program wrote (an HTTP status, attempts): whole numbers as
    numbers, anything else as text, nothing where empty (few texts: each decided once)."""
    kinds = {text: _number(text) if text else None for text in set(texts)}
    cells = sheet_xml.string_cells(
        column, numbers, [text if kinds[text] is None else "" for text in texts], style
    )
    if all(value is None for value in kinds.values()):
        return cells
    values = sheet_xml.number_cells(column, numbers, [kinds[text] for text in texts], style)
    return [value or cell for value, cell in zip(values, cells, strict=True)]


def _longest(columns: list[list[str]]) -> list[int]:
    return [longest_in_excel(column) for column in columns]


def _widths(headers: list[str], columns: list[np.ndarray]) -> list[float]:
    """Column widths from the header and the first rows: wide enough to read, at most 50."""
    widths = []
    for header, column in zip(headers, columns, strict=True):
        sample = column[:500].tolist()
        longest = max([len(header) + 2, *(len(cell) + 1 for cell in sample)])
        widths.append(float(min(50, max(8, longest))))
    return widths


class _Formats:
    """The cell formats one workbook uses."""

    def __init__(self, book: Any) -> None:
        self.header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1})
        self.wrap = book.add_format({"text_wrap": True, "valign": "top"})
        self.top = book.add_format({"valign": "top"})
        self.bad = book.add_format({"bg_color": AMBER, "valign": "top"})
        self.status = {
            name: book.add_format(
                {"bg_color": fill, "font_color": text, "valign": "top", "bold": True}
            )
            for name, (fill, text, _) in STATUS_COLOURS.items()
        }
        self.title = book.add_format({"bold": True, "font_size": 16})
        self.verdict = book.add_format({"bold": True, "font_size": 12, "font_color": "#9C5700"})
        self.verdict_good = book.add_format(
            {"bold": True, "font_size": 12, "font_color": "#006100"}
        )
        self.message = book.add_format({"text_wrap": True, "valign": "top", "indent": 1})
        self.heading = book.add_format({"bold": True, "font_size": 12, "font_color": "#1F4E79"})
        self.label = book.add_format({"bold": True, "valign": "top"})
        self.count = book.add_format({"num_format": "#,##0", "valign": "top"})
        self.count_bold = book.add_format({"num_format": "#,##0", "bold": True, "top": 1})
        self.total = book.add_format({"bold": True, "top": 1})
        self.speed = book.add_format({"num_format": "#,##0.0", "align": "left"})


class _RetrySheet:
    """Rows to resend, original columns only, as text exactly as read; each cell named by
    an error is filled amber and carries the error as a comment."""

    def __init__(
        self,
        sheet: Any,
        headers: list[str],
        cell_columns: dict[str, int] | None,
        formats: _Formats,
        path: Path,
    ) -> None:
        self.sheet = sheet
        self.headers = headers
        self.columns = cell_columns or {}
        self.formats = formats
        self.path = path
        self.rows = 0
        self.comments = 0
        self._sized = False
        self.stream = sheet_xml.RowStream(sheet)
        sheet.freeze_panes(1, 0)
        for position, header in enumerate(headers):
            write_text(sheet, 0, position, header, formats.header)

    def _column_of(self, field: str) -> int:
        """The column that feeds ``field``; the first column for a problem of the whole row."""
        found = self.columns.get(field)
        if found is None and "." in field:  # additional_information_object.Subject
            found = self.columns.get(field.rsplit(".", 1)[1])
        return found if found is not None and found < len(self.headers) else 0

    def write(self, columns: list[np.ndarray], errors: np.ndarray) -> None:
        if not len(errors):
            return
        if self.rows + len(errors) >= EXCEL_MAX_ROWS:
            raise _too_many_rows(self.path)
        if not self._sized:
            for position, width in enumerate(_widths(self.headers, columns)):
                self.sheet.set_column(position, position, width)
            self._sized = True
        cells = [column.tolist() for column in columns]
        notes = self._notes(cells, errors.tolist())
        self.stream.begin(self.rows + 1)
        for start in range(0, len(notes), BLOCK_ROWS):
            block = [column[start : start + BLOCK_ROWS] for column in (*cells, notes)]
            self.stream.write(self.rows + 1 + start, block, self._write_rows)
            self._comment(self.rows + 1 + start, block[-1])
        self.rows += len(errors)
        self.stream.end(self.rows)

    def _notes(self, cells: list[list[str]], errors: list[str]) -> list[dict[int, list[str]]]:
        """Per row, the notes of its cells by column: each error under its field's column,
        and for a cell no workbook can hold as it is, that it is shown changed (it is)."""
        longest = _longest(cells)
        changed = [p for p, column in enumerate(cells) if not fit_as_they_are(column, longest[p])]
        found = []
        for offset, text in enumerate(errors):
            notes: dict[int, list[str]] = {}
            for field, message in split_errors(text):
                notes.setdefault(self._column_of(field), []).append(f"{field}: {message}")
            for position in changed:
                value = cells[position][offset]
                problem = excel_problem(value)
                if problem:  # cannot be stored as it is: shown, and said so
                    notes.setdefault(position, []).append(
                        f"this cell {problem}: it is shown changed; fix it before resending"
                    )
                    cells[position][offset] = shown_in_excel(value)
            found.append(notes)
        return found

    def _write_rows(self, first: int, columns: list[list[Any]]) -> None:
        """Rows ``first`` (0-based) on (their cells' columns, then their notes): a cell with
        a note is filled amber, an empty cell without one is left out."""
        *cells, notes = columns
        numbers = [str(number) for number in range(first + 1, first + 1 + len(notes))]
        marked: list[set[int]] = [set() for _ in cells]
        for offset, row_notes in enumerate(notes):
            for position in row_notes:
                marked[position].add(offset)
        bad, top = self.formats.bad, self.formats.top
        uses = [(min(marks), position, bad) for position, marks in enumerate(marked) if marks]
        for position, values in enumerate(cells):
            plain = next((i for i, v in enumerate(values) if v and i not in marked[position]), None)
            if plain is not None:
                uses.append((plain, position, top))
        indexes = sheet_xml.first_uses(uses)
        bad_xf, top_xf = indexes.get(id(bad), ""), indexes.get(id(top), "")
        xml = []
        for position, values in enumerate(cells):
            marks = marked[position]
            if not marks:
                xml.append(sheet_xml.string_cells(position, numbers, values, top_xf))
                continue
            styles = [bad_xf if i in marks else top_xf for i in range(len(values))]
            column = sheet_xml.string_cells(position, numbers, values, styles)
            for offset in marks:
                if not values[offset]:
                    column[offset] = sheet_xml.empty_text_cell(position, numbers[offset], bad_xf)
            xml.append(column)
        self.stream.write_rows([f'<row r="{n}">' for n in numbers], xml)

    def _comment(self, first: int, notes: list[dict[int, list[str]]]) -> None:
        """The notes of rows ``first`` (0-based) on as comments, up to ``MAX_COMMENTS``."""
        for offset, row_notes in enumerate(notes):
            if row_notes and self.comments < MAX_COMMENTS:
                for position, lines in row_notes.items():
                    self.sheet.write_comment(
                        first + offset,
                        position,
                        "\n".join(lines),
                        {"author": "cg-import", "x_scale": 2.4, "y_scale": 1 + len(lines) * 0.4},
                    )
                    self.comments += 1


class RetryBook:
    """``<report-stem>.retry.xlsx``: the rows to fix and resend (see ``_RetrySheet``).

    Its sheet bears the input's sheet name, so a mapping that names the sheet reads it.
    """

    def __init__(
        self,
        path: Path,
        headers: list[str],
        cell_columns: dict[str, int] | None = None,
        sheet: str | None = None,
    ) -> None:
        self.path = path
        self._book = open_book(path, streamed=True)
        formats = _Formats(self._book)
        worksheet = self._book.add_worksheet(sheet or "Retry")
        self._retry = _RetrySheet(worksheet, headers, cell_columns, formats, path)

    def write(self, columns: list[np.ndarray], errors: np.ndarray) -> None:
        """Append rows given as columns (object arrays of texts), with their errors texts."""
        self._retry.write(columns, errors)

    def close(self) -> None:
        save_book(self._book, self.path, (self._retry.stream,))

    def discard(self) -> None:
        discard_book(self._book, self.path, (self._retry.stream,))


class ReportBook:
    """The ``.xlsx`` report: sheets Rows, Summary and Retry, written row by row."""

    def __init__(
        self,
        path: Path,
        headers: list[str],
        shown_headers: list[str],
        cell_columns: dict[str, int] | None = None,
    ) -> None:
        self.path = path
        self._book = open_book(path, streamed=True)
        self._formats = _Formats(self._book)
        self._rows = self._book.add_worksheet("Rows")
        self._summary = self._book.add_worksheet("Summary")
        retry = self._book.add_worksheet("Retry")
        self._retry = _RetrySheet(retry, headers, cell_columns, self._formats, path)
        self._headers = [*OUTCOME_COLUMNS, *shown_headers]
        self._stream = sheet_xml.RowStream(self._rows)
        self._written = 0
        self._heights = 0
        self._sized = False
        self._rows.freeze_panes(1, 0)
        for position, header in enumerate(self._headers):
            write_text(self._rows, 0, position, header, self._formats.header)
        for position, width in enumerate(OUTCOME_WIDTHS):
            fmt = self._formats.wrap if OUTCOME_COLUMNS[position] == "errors" else None
            self._rows.set_column(position, position, width, fmt)

    def write(self, outcomes: list[np.ndarray], original: list[np.ndarray]) -> None:
        """Append rows: the outcome columns and the original cells, as texts."""
        count = len(outcomes[0])
        if self._written + count >= EXCEL_MAX_ROWS:
            raise _too_many_rows(self.path)
        if not self._sized:
            widths = _widths(self._headers[len(OUTCOME_COLUMNS) :], original)
            for offset, width in enumerate(widths):
                position = len(OUTCOME_COLUMNS) + offset
                self._rows.set_column(position, position, width)
            self._sized = True
        texts = [column.tolist() for column in outcomes]
        cells = [column.tolist() for column in original]
        longest = _longest(cells)
        for position, column in enumerate(cells):
            if not fit_as_they_are(column, longest[position]):  # only in rows invalid for it
                cells[position] = [shown_in_excel(cell) for cell in column]
        short = [size <= sheet_xml.SHORT for size in (*_longest(texts), *longest)]
        self._stream.begin(self._written + 1)
        for start in range(0, count, BLOCK_ROWS):
            stop = min(count, start + BLOCK_ROWS)
            block = [column[start:stop] for column in (*texts, *cells)]
            self._stream.write(self._written + 1 + start, block, partial(self._write_rows, short))
        self._written += count
        self._stream.end(self._written)

    def _write_rows(self, short: list[bool], first: int, columns: list[list[str]]) -> None:
        """Rows ``first`` (0-based) on, the outcome columns then the input's: the program's
        numbers as numbers, every text as text (``short``: per column, no text is long
        enough to be cut); an empty cell is left out (an empty status kept for its format)."""
        first_input = len(OUTCOME_COLUMNS)
        rows, statuses, references, ids, answers, attempts, errors = columns[:first_input]
        formats = self._formats
        plain, wrap, status_format = formats.top, formats.wrap, formats.status
        numbers = [str(number) for number in range(first + 1, first + 1 + len(rows))]
        seen: dict[str, int] = {}
        for offset, status in enumerate(statuses):
            seen.setdefault(status, offset)
        uses = [(0, 0, plain)]
        uses += [(offset, 1, status_format.get(s, plain)) for s, offset in seen.items()]
        uses += [(next(i for i, e in enumerate(errors) if e), 6, wrap)] if any(errors) else []
        xf = sheet_xml.first_uses(uses)
        top = xf[id(plain)]
        styles = [xf[id(status_format.get(status, plain))] for status in statuses]
        cells = [
            sheet_xml.number_cells(0, numbers, [int(row) for row in rows], top),
            sheet_xml.string_cells(1, numbers, statuses, styles, short[1]),
            sheet_xml.string_cells(2, numbers, references, top, short[2]),
            sheet_xml.string_cells(3, numbers, ids, top, short[3]),  # "00042" stays 00042
            _program_numbers(4, numbers, answers, top),
            _program_numbers(5, numbers, attempts, top),
            sheet_xml.string_cells(6, numbers, errors, xf.get(id(wrap), ""), short[6]),
        ]
        if "" in seen:  # XlsxWriter keeps an empty cell that has a format
            for offset, status in enumerate(statuses):
                if not status:
                    cells[1][offset] = sheet_xml.empty_text_cell(1, numbers[offset], styles[offset])
        for position in range(first_input, len(columns)):
            values = columns[position]
            cells.append(sheet_xml.string_cells(position, numbers, values, top, short[position]))
        self._stream.write_rows(self._openings(numbers, errors), cells)

    def _openings(self, numbers: list[str], errors: list[str]) -> list[str]:
        """Each row's ``<row>`` tag; a long error makes its row taller (LibreOffice does not
        fit it), for the first ``MAX_ROW_HEIGHTS`` such rows."""
        openings = [f'<row r="{number}">' for number in numbers]
        errors_width = OUTCOME_WIDTHS[6]
        for offset, problem in enumerate(errors):
            if len(problem) > errors_width - 4 and self._heights < MAX_ROW_HEIGHTS:
                height = 15 * min(_lines(problem, errors_width), 8)
                openings[offset] = sheet_xml.row_opening(self._rows, numbers[offset], height)
                self._heights += 1
        return openings

    def write_retry(self, original: list[np.ndarray], errors: np.ndarray) -> None:
        """Append rows to resend to the Retry sheet."""
        self._retry.write(original, errors)

    def close(self, summary: dict[str, Any], counts: Counter[str], problems: ProblemTally) -> None:
        """Write the Summary sheet, the autofilter, and save."""
        self._rows.autofilter(0, 0, max(self._written, 1), len(self._headers) - 1)
        write_summary_sheet(self._book, self._summary, self._formats, summary, counts, problems)
        save_book(self._book, self.path, (self._stream, self._retry.stream))

    def discard(self) -> None:
        discard_book(self._book, self.path, (self._stream, self._retry.stream))


def write_summary_book(
    path: Path, summary: dict[str, Any], counts: Counter[str], problems: ProblemTally
) -> None:
    """``<report-stem>.summary.xlsx``: the Summary sheet beside a CSV report."""
    book = open_book(path, small=True)
    sheet = book.add_worksheet("Summary")
    write_summary_sheet(book, sheet, _Formats(book), summary, counts, problems)
    save_book(book, path)


def write_summary_sheet(
    book: Any,
    sheet: Any,
    formats: _Formats,
    summary: dict[str, Any],
    counts: Counter[str],
    problems: ProblemTally,
) -> None:
    """What happened, at a glance: the run, rows per status, problems per field, the most
    frequent errors; a bar chart beside each of the two counts tables."""
    for position, width in enumerate(SUMMARY_WIDTHS):
        sheet.set_column(position, position, width)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.hide_gridlines(2)
    command = summary.get("command") or "validate"
    name = Path(str(summary.get("input_file") or "")).name
    write_text(sheet, 0, 0, f"cg-import {command}: {name}", formats.title)
    total = sum(counts.values())
    done = sum(counts[s] for s in ((Status.VALID,) if command == "validate" else GOT_IN))
    verdict = f"{done:,} of {total:,} rows {'valid' if command == 'validate' else 'imported'}"
    if done < total:
        verdict += f"; {total - done:,} not: the most frequent errors below say what to fix first"
    write_text(sheet, 1, 0, verdict, formats.verdict_good if done == total else formats.verdict)
    row = _write_run(sheet, formats, summary, 3)

    statuses: list[str] = [s for s in STATUS_ORDER if counts.get(s)]
    statuses += sorted(s for s in counts if s not in STATUS_ORDER and counts[s])
    table = [(status, counts[status]) for status in statuses]
    row = _counts_table(
        book, sheet, formats, row + 1, ("Status", "Rows"), table, "Rows per status", statuses
    )
    if summary.get("blank_rows_skipped"):
        write_text(sheet, row - 1, 0, "blank rows skipped (not activities)")
        sheet.write_number(row - 1, 1, int(summary["blank_rows_skipped"]), formats.count)
        row += 1
    if summary.get("rows_replacing_an_earlier_row"):
        write_text(sheet, row - 1, 0, "rows replacing an earlier row of their reference")
        sheet.write_number(row - 1, 1, int(summary["rows_replacing_an_earlier_row"]), formats.count)
        row += 1

    fields = sorted(problems.per_field.items(), key=lambda item: (-item[1], item[0]))
    if fields:
        row = _counts_table(
            book, sheet, formats, row + 1, ("Field", "Problems"), fields, "Problems per field"
        )
    _top_errors(sheet, formats, problems, row + 1)


def _write_run(sheet: Any, formats: _Formats, summary: dict[str, Any], row: int) -> int:
    """The run's facts as label / value lines; returns the next free row."""
    facts: list[tuple[str, Any]] = [
        ("Input file", summary.get("input_file")),
        ("Input SHA-256", summary.get("input_sha256")),
        ("Started (UTC)", _when(summary.get("started"))),
        ("Finished (UTC)", _when(summary.get("finished"))),
    ]
    if summary.get("command") == "run":
        facts += [
            ("Rows per second", summary.get("rows_per_second")),
            ("API host", summary.get("api_host")),
        ]
    facts += [("Report", summary.get("report")), ("Retry file", summary.get("retry_file"))]
    if summary.get("interrupted") or summary.get("stopped"):
        facts.append(("Stopped", summary.get("stopped") or "interrupted; --resume continues"))
    for label, value in facts:
        write_text(sheet, row, 0, label, formats.label)
        if isinstance(value, int | float) and not isinstance(value, bool):
            sheet.write_number(row, 1, value, formats.speed)
        else:
            write_text(sheet, row, 1, "" if value is None else str(value))
        row += 1
    return row


def _when(value: Any) -> str | None:
    return None if not value else str(value).replace("T", " ").removesuffix("+00:00")


def _counts_table(
    book: Any,
    sheet: Any,
    formats: _Formats,
    row: int,
    header: tuple[str, str],
    lines: list[tuple[str, int]],
    title: str,
    statuses: list[str] | None = None,
) -> int:
    """A heading, a two-column table with a total and a bar chart beside it; returns the
    next free row (below the chart if it is the taller)."""
    write_text(sheet, row, 0, title, formats.heading)
    write_text(sheet, row + 1, 0, header[0], formats.header)
    write_text(sheet, row + 1, 1, header[1], formats.header)
    first = row + 2
    for offset, (label, value) in enumerate(lines):
        fmt = formats.status.get(label) if statuses is not None else None
        write_text(sheet, first + offset, 0, label, fmt or formats.top)
        sheet.write_number(first + offset, 1, value, formats.count)
    last = first + len(lines) - 1
    write_text(sheet, last + 1, 0, "total", formats.total)
    sheet.write_number(last + 1, 1, sum(value for _, value in lines), formats.count_bold)
    chart_rows = 0
    if lines:
        chart = book.add_chart({"type": "bar"})
        series: dict[str, Any] = {
            "name": title,
            "categories": [sheet.name, first, 0, last, 0],
            "values": [sheet.name, first, 1, last, 1],
            "data_labels": {"value": True, "num_format": "#,##0"},
            "gap": 40,
        }
        if statuses is not None:
            series["points"] = [
                {"fill": {"color": STATUS_COLOURS.get(s, ("", "", "#A6A6A6"))[2]}} for s in statuses
            ]
        else:
            series["fill"] = {"color": "#E6A117"}
        chart.add_series(series)
        chart.set_title({"name": title, "name_font": {"size": 12}})
        chart.set_legend({"none": True})
        chart.set_y_axis({"reverse": True})  # first line on top, as in the table
        chart.set_x_axis({"num_format": "#,##0", "major_gridlines": {"visible": True}})
        chart_rows = max(9, min(18, 3 + 2 * len(lines)))
        chart.set_size({"width": 560, "height": chart_rows * 20})
        sheet.insert_chart(row, 2, chart, {"x_offset": 12, "y_offset": 0, "object_position": 3})
    return max(last + 3, row + chart_rows + 1)


def _top_errors(sheet: Any, formats: _Formats, problems: ProblemTally, row: int) -> None:
    """The most frequent kinds of error: what to fix first, and where to look."""
    top = problems.top(TOP_ERRORS)
    title = f"Most frequent errors (top {TOP_ERRORS}; values shown as …)"
    write_text(sheet, row, 0, title if top else "No errors", formats.heading)
    if not top:
        return
    for position, name in enumerate(("Field", "Rows", "Error", "First rows", "Example")):
        write_text(sheet, row + 1, position, name, formats.header)
    for offset, kind in enumerate(top, start=row + 2):
        first_rows = ", ".join(map(str, kind["first_rows"]))
        texts = ((kind["message"], 2), (kind["example"], 4), (first_rows, 3))
        # a height set before the row is written (streaming), as wrapped text needs it
        lines = max(_lines(text, SUMMARY_WIDTHS[position]) for text, position in texts)
        sheet.set_row(offset, 15 * min(lines, 12))
        write_text(sheet, offset, 0, kind["field"], formats.top)
        sheet.write_number(offset, 1, kind["count"], formats.count)
        write_text(sheet, offset, 2, kind["message"], formats.message)
        write_text(sheet, offset, 3, first_rows, formats.wrap)
        write_text(sheet, offset, 4, kind["example"], formats.wrap)


def _lines(text: str, width: float) -> int:
    """About how many lines ``text`` wraps to in a column ``width`` characters wide."""
    per_line = max(1, int(width * 0.95) - 2)
    return sum(max(1, -(-len(part) // per_line)) for part in text.split("\n"))
