"""init on the real exports of tests/data/real/: the table of what it recognised, how many
of its choices match the hand-written answer key, and the share of rows valid.

    python benchmarks/real_exports.py

Each file: ``cg-import init FILE`` (no --type, no --source: as a new analyst would run it),
then ``cg-import validate FILE --mapping <what init wrote>``, in this process.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from importer.cli import main  # noqa: E402
from tests.init.answer_key import DATA_ALLOW, EXPECTED, KNOWN_MISSES, REAL, choices  # noqa: E402


class _Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def _cli(*argv: object) -> _Result:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return _Result(code, out.getvalue(), err.getvalue())


def main_() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(EXPECTED):
            mapping = Path(tmp) / f"{Path(name).stem}.toml"
            result = _cli("init", REAL / name, "--output", mapping)
            proposed = tomllib.loads(mapping.read_text(encoding="utf-8"))
            judged = choices(result, proposed, EXPECTED[name])
            recognised = next(
                (line.split("recognised: ")[1].split(" (")[0] for line in result.out.splitlines()
                 if "recognised: " in line),
                "-",
            )  # fmt: skip
            valid = "-"
            if EXPECTED[name]["account"]:
                report = Path(tmp) / f"{Path(name).stem}-report.csv"
                _cli("validate", REAL / name, "--mapping", mapping, "--report", report, "--quiet")
                with report.open(encoding="utf-8-sig", newline="") as handle:
                    statuses = [line["status"] for line in csv.DictReader(handle)]
                share = statuses.count("valid") / len(statuses)
                least = DATA_ALLOW.get(name, (0.9, ""))[0]
                valid = f"{share:4.0%}" + ("" if share >= least else " LOW")
            wrong = [w for w, right in judged.items() if not right]
            named = [w for w in wrong if (name, w) in KNOWN_MISSES]
            rows.append((name, recognised, sum(judged.values()), len(judged), wrong, named, valid))
    width = max(len(r[0]) for r in rows)
    print(f"{'file':<{width}}  {'recognised as':<34} right  valid  wrong")
    for name, recognised, right, total, wrong, named, valid in rows:
        shown = ", ".join(w + (" (known)" if w in named else "") for w in wrong) or ""
        print(f"{name:<{width}}  {recognised:<34} {right}/{total}   {valid:>5}  {shown}")
    right_all = sum(r[2] for r in rows)
    total_all = sum(r[3] for r in rows)
    print(f"\n{len(rows)} files: {right_all}/{total_all} choices as the answer key "
          f"({right_all / total_all:.0%}); '-' valid: no column can name the customer")  # fmt: skip
    unexplained = [r for r in rows if set(r[4]) - set(r[5]) or r[6].endswith("LOW")]
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main_())
