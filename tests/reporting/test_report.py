"""The report writer: what Excel and any CSV reader get back is exactly what was meant."""

from __future__ import annotations

import csv
import io

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.report import _csv_lines, formula_safe

CELL = st.text(alphabet=st.sampled_from([*"ab ,;\"'\n\r\t=+-@|é€", "\x00"]), max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(CELL, min_size=3, max_size=3), min_size=1, max_size=6),
    sep=st.sampled_from([",", ";", "\t", "|"]),
)
def test_csv_text_reads_back_as_the_cells_with_formulas_defused(rows, sep):
    columns = [np.array([row[i] for row in rows], dtype=object) for i in range(3)]
    text = _csv_lines(columns, sep, safe=0)
    back = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    assert back == [[formula_safe(cell) for cell in row] for row in rows]
    for row in back:  # a cell never starts a formula, nor does text after a list separator
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
            assert not any(f"{sep}{m}" in cell for sep in ",;" for m in "=+-@")


def test_validate_report_of_the_sample_matches_the_golden_file(tmp_path):
    """Byte for byte: columns, quoting, BOM, CRLF, formula guard, error wording."""
    from importer.cli import main

    from ..helpers import DATA, SAMPLES

    report = tmp_path / "report.csv"
    assert main(["validate", str(SAMPLES / "activities.csv"), "--report", str(report),
                 "--quiet"]) == 1  # fmt: skip
    golden = DATA / "activities.validate.golden.csv"
    # to accept an intended change: cg-import validate samples/activities.csv
    #   --report tests/data/activities.validate.golden.csv --quiet (and drop its summary)
    assert report.read_bytes() == golden.read_bytes()


def test_fit_stem_cuts_on_a_character_boundary_and_keeps_long_names_apart():
    """Issue 18.9: names within NAME_MAX bytes in UTF-8, distinct when cut."""
    from importer.files import fit_stem

    long = "\u3042" * 80
    assert fit_stem("short", 10) == "short"
    one, two = fit_stem(long + "1", 100), fit_stem(long + "2", 100)
    assert one != two
    assert len(one.encode()) <= 100 and one.startswith("\u3042" * 30)
    assert fit_stem(long + "1", 100) == one  # the same name always gets the same stem
