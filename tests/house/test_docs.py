"""The documentation cannot drift from the program: the site builds, its commands run.

What is checked, in README.md and every page of docs/ (the MkDocs site):

- The site builds with ``mkdocs build --strict`` (a broken link or anchor fails), into a
  temporary folder, never into the repository.
- **Blocks marked to run.** A fenced block preceded by the line ``<!-- docs-test: run -->``
  (an HTML comment: invisible on GitHub and on the site) is run, command by command, in a
  temporary folder holding copies of ``samples/`` and ``schemas/``, one folder per page,
  so a page's commands see each other's files in order. ``cg-import …`` runs in-process
  through ``importer.cli.main`` and must exit 0 or 1 (2 would mean the page shows a
  command that does nothing), with no traceback. So that the suite stays fast, ``run`` and
  ``inbox`` get ``--rate 0`` when the page gives no ``--rate`` (the sandbox takes any
  pace; the pace changes nothing else). ``cg-import sandbox --port N`` starts a sandbox
  in a thread instead of serving forever, and ``127.0.0.1:N`` in later commands of the page
  is aimed at it. The other commands a run block may hold: ``export K=V``, ``mkdir -p``,
  ``cp``, ``ls`` (the paths must exist) and ``curl -s URL`` (must answer 200 with JSON);
  ``pip install -e …`` is the set-up the test already stands in, and ``pytest`` is this
  suite. Anything else fails the test: mark only blocks it can run.
- **Every other shell-like block** (``sh``, ``bash``, ``cron``, ``ini`` for systemd units,
  ``bat``): each ``cg-import`` command in it is checked by the parser
  (``build_parser().parse_args``): its command and options exist. So is each
  ``cg-import COMMAND …`` in the prose's code spans, its placeholders (``INPUT``, ``…``)
  filled in.
- Every ``toml`` block loads as a mapping file or as a config file.
- The reference tables match the code: the options of each command (``commands.md``),
  the config keys and their defaults (``config.md``), the exit codes, the profiles, and
  every message in ``troubleshooting.md`` is one the program can print.
- README.md holds CI's test command (``.ci/run``) verbatim, and its relative links exist.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import re
import shlex
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from importer.cli import build_parser, main
from importer.cli.exit_codes import EXIT_INTERRUPTED, EXIT_NOT_ALL, EXIT_NOTHING_DONE, EXIT_OK
from importer.config import CONFIG_KEYS, load_config
from importer.errors import MappingError, UsageError
from importer.mapping import load_mapping
from importer.sandbox import SandboxConfig, serve_in_thread

from .. import checks_aside
from ..helpers import ROOT

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
RUN_MARK = "<!-- docs-test: run -->"
SHELL_LANGUAGES = {"sh", "bash", "shell", "console", "cron", "ini", "bat", "powershell"}
COMMANDS = ("validate", "run", "inbox", "init", "sandbox")


@dataclass
class Block:
    """One fenced block of a page."""

    page: Path
    line: int  # where its fence opens, 1-based
    language: str
    text: str
    run: bool  # marked with RUN_MARK

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page (indented ones in lists too), with their run marks."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    number = 0
    while number < len(lines):
        opening = re.match(r"^(\s*)(`{3,})(\w*)\s*$", lines[number])
        if not opening:
            number += 1
            continue
        indent, fence, language = opening.groups()
        before = [line.strip() for line in lines[:number] if line.strip()]
        body: list[str] = []
        end = number + 1
        while end < len(lines) and lines[end].strip() != fence:
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end])
            end += 1
        run = bool(before) and before[-1] == RUN_MARK
        found.append(Block(page, number + 1, language.lower(), "\n".join(body), run))
        number = end + 1
    return found


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in blocks(page)]


def commands(text: str) -> list[list[str]]:
    """The commands of a shell block, as words: lines joined at a trailing ``\\``,
    comments dropped, split at ``&&`` and ``;``."""
    text = re.sub(r"\\\n", " ", text)
    found: list[list[str]] = []
    for line in text.splitlines():
        words: list[str] = []
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        for word in lexer:
            if word in ("&&", ";"):
                found.append(words)
                words = []
            else:
                words.append(word)
        found.append(words)
    return [words for words in found if words]


# --- the site -----------------------------------------------------------------------------


def test_the_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[test]')")
    code, output, site = checks_aside.result("mkdocs", site=tmp_path / "site", timeout=120)
    assert code == 0, output
    assert site is not None and (site / "index.html").exists()
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    unlisted = [page.name for page in DOCS.glob("*.md") if f": {page.name}" not in nav]
    assert not unlisted, f"pages missing from mkdocs.yml's nav: {unlisted}"


def test_readme_holds_ci_test_command_verbatim_and_its_links_exist():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    command = ci[ci.index("# --- the README's test command, verbatim ---") + 1]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert command == "pip install -e '.[test]' && pytest"
    assert command in readme.splitlines(), "the README must show CI's test command verbatim"
    first = [block for block in blocks(ROOT / "README.md") if block.language == "sh"][:2]
    assert [block.text for block in first][1] == command, "the two commands come first"
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme):
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


# --- blocks marked to run -----------------------------------------------------------------


@dataclass
class Session:
    """One page's commands, run in order in a folder of their own."""

    folder: Path
    monkeypatch: pytest.MonkeyPatch
    stack: contextlib.ExitStack
    ports: dict[str, str] = field(default_factory=dict)  # "127.0.0.1:8080" → a real one
    ran: int = 0

    def aimed(self, word: str) -> str:
        for shown, real in self.ports.items():
            word = word.replace(shown, real)
        return word

    def do(self, words: list[str], where: Block) -> None:
        name, *rest = words
        handler = getattr(self, "_" + name.replace("-", "_"), None)
        if handler is None:
            pytest.fail(f"{where}: the test cannot run '{shlex.join(words)}' (see its docstring)")
        handler(rest, where)

    def _pip(self, rest: list[str], where: Block) -> None:
        assert rest in (["install", "-e", "."], ["install", "-e", ".[test]"]), where

    def _pytest(self, rest: list[str], where: Block) -> None:
        assert not rest, where  # this suite itself

    def _export(self, rest: list[str], where: Block) -> None:
        for assignment in rest:
            key, _, value = assignment.partition("=")
            self.monkeypatch.setenv(key, value)

    def _mkdir(self, rest: list[str], where: Block) -> None:
        for path in (word for word in rest if word != "-p"):
            Path(path).mkdir(parents=True, exist_ok=True)

    def _cp(self, rest: list[str], where: Block) -> None:
        *sources, target = rest
        for source in sources:
            shutil.copy(source, target)

    def _ls(self, rest: list[str], where: Block) -> None:
        for path in rest:
            assert Path(path).exists(), f"{where}: {path} does not exist"

    def _curl(self, rest: list[str], where: Block) -> None:
        url = self.aimed(next(word for word in rest if not word.startswith("-")))
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.status == 200, f"{where}: {url} answered {answer.status}"
            json.loads(answer.read())

    def _cg_import(self, rest: list[str], where: Block) -> None:
        rest = [self.aimed(word) for word in rest]
        if rest and rest[0] == "sandbox":
            self._sandbox(build_parser().parse_args(rest))
            return
        if rest and rest[0] in ("run", "inbox") and not any(w.startswith("--rate") for w in rest):
            rest += ["--rate", "0"]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(rest)
            except SystemExit as exit_:  # the parser's errors
                code = exit_.code if isinstance(exit_.code, int) else EXIT_NOTHING_DONE
        told = out.getvalue() + err.getvalue()
        self.ran += 1
        assert code in (EXIT_OK, EXIT_NOT_ALL), f"{where}: cg-import {shlex.join(rest)}\n{told}"
        assert "Traceback" not in told and "internal error" not in told, told

    def _sandbox(self, args: argparse.Namespace) -> None:
        config = SandboxConfig(
            rate_limit=args.rate_limit,
            rate_limit_window=args.rate_limit_window,
            latency=args.latency,
            seed=args.seed,
        )
        running = self.stack.enter_context(serve_in_thread(config))
        self.ports[f"127.0.0.1:{args.port}"] = f"127.0.0.1:{running.port}"
        self.ran += 1


def _pages_that_run() -> list[Path]:
    return [page for page in PAGES if any(block.run for block in blocks(page))]


@pytest.fixture
def session(tmp_path, monkeypatch) -> Iterator[Session]:
    for folder in ("samples", "schemas"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    for name in ("CG_CLIENT_ID", "CG_CLIENT_SECRET", "CG_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    with contextlib.ExitStack() as stack:
        yield Session(tmp_path, monkeypatch, stack)


@pytest.mark.parametrize("page", _pages_that_run(), ids=lambda page: page.name)
def test_the_commands_a_page_shows_run(page, session):
    marked = [block for block in blocks(page) if block.run]
    for block in marked:
        assert block.language in SHELL_LANGUAGES, f"{block}: only shell blocks can run"
        for words in commands(block.text):
            session.do(words, block)
    assert session.ran >= len(marked)


# --- every other command: the parser takes it ---------------------------------------------

_INVOCATION = re.compile(r"(?:^|[\s/\\=])cg-import(?:\.exe)?\s+(" + "|".join(COMMANDS) + r")\b")


def invocations(block: Block) -> list[list[str]]:
    """The ``cg-import`` commands anywhere in a block's lines (after ``ExecStart=``, in
    a crontab line, in a quoted Windows command), as the words after ``cg-import``."""
    text = re.sub(r"[\\^]\n", " ", block.text)
    found = []
    for line in text.splitlines():
        if block.language == "ini" and not line.startswith("Exec"):
            continue  # a unit's Description may name the command too
        for hit in _INVOCATION.finditer(line):
            rest = line[hit.start(1) :]
            rest = re.split(r"\"|&&|;|\||\s#", rest)[0]
            found.append(shlex.split(rest, posix=False))
    return found


def _shown_commands() -> list[tuple[str, list[str]]]:
    return [
        (str(block), words)
        for block in all_blocks()
        if block.language in SHELL_LANGUAGES and not block.run
        for words in invocations(block)
    ]


@pytest.mark.parametrize(("where", "words"), _shown_commands(), ids=str)
def test_every_command_shown_is_one_the_parser_takes(where, words):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            build_parser().parse_args(words)
        except SystemExit:
            pytest.fail(f"{where}: cg-import {' '.join(words)}: {err.getvalue()}")


_PLACEHOLDERS = {"INPUT": "x.csv", "FILE": "x.csv", "…": "x.csv", "[options]": "", "[DIR]": ""}


def _inline_commands() -> list[tuple[str, list[str]]]:
    """``cg-import COMMAND …`` in the pages' prose, with its placeholders filled in."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for span in re.findall(r"`cg-import ((?:" + "|".join(COMMANDS) + r") [^`]+)`", text):
            words = [_PLACEHOLDERS.get(word, word) for word in shlex.split(span)]
            found.append((f"{page.name}: {span}", [word for word in words if word]))
    return found


@pytest.mark.parametrize(("where", "words"), _inline_commands(), ids=str)
def test_every_command_in_the_prose_is_one_the_parser_takes(where, words):
    test_every_command_shown_is_one_the_parser_takes(where, words)


def test_the_cron_line_exports_what_it_reads():
    """Plain ``KEY=value`` lines reach cg-import only through ``set -a``."""
    cron = [block.text for block in all_blocks() if block.language == "cron"]
    assert cron and all("set -a; . ./credentials.env; set +a;" in text for text in cron)


def test_every_toml_block_is_a_mapping_or_a_config_file(tmp_path):
    checked = 0
    for block in all_blocks():
        if block.language != "toml":
            continue
        path = tmp_path / f"block{block.line}.toml"
        path.write_text(block.text, encoding="utf-8")
        path.chmod(0o600)
        try:
            load_mapping(path)
        except MappingError as as_mapping:
            try:
                load_config(path)
            except UsageError as as_config:
                pytest.fail(f"{block}: neither a mapping ({as_mapping}) nor a config ({as_config})")
        checked += 1
    assert checked >= 3


# --- the reference tables match the code --------------------------------------------------


def section(page: str, heading: str) -> str:
    """The text of ``## heading`` on a docs page, up to the next ``## ``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [
        [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]
        for row in rows[1:]
        if not row.startswith("|---")
    ]


def parser_options(command: str) -> set[str]:
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    return {o for action in sub._actions for o in action.option_strings if o.startswith("--")}


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_page_lists_exactly_each_commands_options(command):
    text = section("commands.md", command)
    accepted = parser_options(command) - {"--help"}
    in_table = {o for row in table_rows(text) for o in re.findall(r"--[a-z][a-z-]*", row[0])}
    assert in_table <= accepted, f"{command}: listed but not accepted: {in_table - accepted}"
    told = set(re.findall(r"--[a-z][a-z-]*", text))
    if command == "run":  # "every option of validate, and:"
        told |= set(re.findall(r"--[a-z][a-z-]*", section("commands.md", "validate")))
    assert accepted <= told, f"{command}: accepted but not documented: {accepted - told}"


def test_config_page_lists_every_key_with_the_parsers_default():
    rows = table_rows(section("config.md", "Every key"))
    keys = {row[0].strip("`"): row for row in rows}
    assert set(keys) == set(CONFIG_KEYS)
    defaults = build_parser()._subparsers._group_actions[0].choices["inbox"]  # type: ignore[union-attr]
    for key, (option, _kind) in CONFIG_KEYS.items():
        default = defaults.get_default(option)
        if isinstance(default, int | float) and not isinstance(default, bool):
            assert keys[key][2].startswith(f"{default:g}"), f"{key}: the parser says {default}"


def test_exit_codes_page_lists_the_codes_of_the_code():
    rows = table_rows((DOCS / "exit-codes.md").read_text(encoding="utf-8"))
    assert [int(row[0]) for row in rows] == [
        EXIT_OK,
        EXIT_NOT_ALL,
        EXIT_NOTHING_DONE,
        EXIT_INTERRUPTED,
    ]


_PROFILES = "Ready-made profiles: what `init` recognises"


def test_mapping_page_lists_every_profile_and_every_key():
    profiles = {row[0].strip("`") for row in table_rows(section("mapping.md", _PROFILES))}
    assert profiles == {path.name for path in (ROOT / "schemas" / "profiles").glob("*.toml")}
    keys = {row[0].strip("`[]") for row in table_rows(section("mapping.md", "The mapping keys"))}
    from importer import mapping

    known = {*mapping._SETTINGS, *mapping._LISTS, "header_row", *mapping._TABLES}
    assert keys == known


def _program_texts() -> tuple[set[str], list[re.Pattern[str]]]:
    """Every string the program holds (importer/, schemas/ and argparse's messages): the
    literal texts, and each f-string as a pattern with its placeholders as ``.*``."""
    texts: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    sources = [*(ROOT / "importer").rglob("*.py"), *(ROOT / "schemas").rglob("*.py")]
    sources.append(Path(argparse.__file__))
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                texts.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                parts = [
                    part.value if isinstance(part, ast.Constant) else None for part in node.values
                ]
                texts.update(part for part in parts if part)
                literal = sum(len(part) for part in parts if part)
                if literal >= 12:
                    pattern = "".join(re.escape(part) if part else ".*" for part in parts)
                    patterns.append(re.compile(pattern, re.DOTALL))
    return texts, patterns


def test_every_troubleshooting_message_is_one_the_program_prints():
    texts, patterns = _program_texts()
    rows = table_rows((DOCS / "troubleshooting.md").read_text(encoding="utf-8"))
    messages = [re.match(r"`([^`]+)`", row[0]) for row in rows if row[0] != "message"]
    assert len(messages) >= 20
    unknown = []
    for found in messages:
        assert found, rows
        message = re.sub(r"^(reference|account|contact|type|source|happened_at): ", "", found[1])
        pieces = [piece.strip() for piece in message.split("…") if len(piece.strip()) >= 4]
        if all(any(piece in text for text in texts) for piece in pieces):
            continue
        if any(pattern.fullmatch(message) for pattern in patterns):
            continue
        unknown.append(message)
    assert not unknown, "messages the program does not print:\n" + "\n".join(unknown)
