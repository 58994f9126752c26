"""CSV encoding detection: one streaming pass over the bytes decides how the text is read.

UTF-8 unless a byte-order mark or the mapping says otherwise; cp1252 (Windows Western) only
where that reading is plausible for the whole file; anything else is refused with a hint.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .options import BLOCK

#: the bytes cp1252 leaves undefined: a file holding one is in neither UTF-8 nor cp1252
_NOT_CP1252 = b"\x81\x8d\x8f\x90\x9d"
_NON_ASCII = re.compile("[^\x00-\x7f]")
#: blocks read and not yet hashed (the scan is faster than the hash: its memory, 8 MiB)
_HASH_AHEAD = 8


@dataclass
class ByteScan:
    """What the one streaming pass over a CSV learns: its hash, lines and encoding evidence.

    A file that is not valid UTF-8 is read as cp1252 only if that reading is plausible for
    the whole file: no byte undefined in cp1252, and no UTF-8 text beside the invalid bytes.
    UTF-8 for Western letters and punctuation (leads C2-C5, 3- and 4-byte sequences) reads
    in cp1252 as mojibake (``Ã¼``, ``â€™``) that no one types, so one is proof; other 2-byte
    sequences can be a capital letter before a curly quote (``É”``), so they only count
    when they outnumber the invalid bytes.
    """

    eol: bytes
    weigh: bool  # False when the encoding is already decided (BOM of UTF-16, mapping)
    digest: Any = field(default_factory=hashlib.sha256)
    lines: int = 0
    is_utf8: bool = True
    first_bad_line: int = 0  # the first line that is not valid UTF-8
    utf8_text_before: bool = False  # non-ASCII UTF-8 text before the first invalid byte
    western_utf8: int = 0
    other_utf8: int = 0
    stray_bytes: int = 0
    undefined: tuple[int, int] | None = None  # (line, byte) of the first byte cp1252 lacks

    def __post_init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()

    def feed(self, block: bytes) -> None:
        """Learn from the next block (the digest is ``scan_bytes``'s to feed)."""
        lines_before = self.lines
        self.lines += block.count(self.eol)
        if self.is_utf8:
            pending = len(self._utf8.getstate()[0])
            if block.isascii() and not pending:
                return
            try:
                if not self._utf8.decode(block).isascii():
                    self.utf8_text_before = True
                return
            except UnicodeDecodeError as err:
                self.is_utf8 = False
                at = max(0, err.start - pending)
                self.first_bad_line = lines_before + block.count(self.eol, 0, at) + 1
        if self.weigh:
            self._weigh(block, lines_before)

    def finish(self) -> None:
        if self.is_utf8:
            try:
                self._utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                self.is_utf8 = False
                self.first_bad_line = self.lines + 1

    def _weigh(self, block: bytes, lines_before: int) -> None:
        if block.isascii():
            return
        if self.undefined is None and len(block.translate(None, _NOT_CP1252)) < len(block):
            at = min(at for byte in _NOT_CP1252 if (at := block.find(byte)) >= 0)
            self.undefined = (lines_before + block.count(self.eol, 0, at) + 1, block[at])
        if self.western_utf8:
            return  # UTF-8 text already found: the file is refused whatever follows
        # the decoder (C) does the scanning; a few pages of Python look at what it found
        text = block.decode("utf-8", errors="replace")
        stray = text.count("\ufffd")
        self.stray_bytes += stray
        utf8_text = text.replace("\ufffd", "") if stray else text
        if utf8_text.isascii():
            return
        for char in _NON_ASCII.findall(utf8_text):
            if char <= "\u017f" or char >= "\u0800":
                self.western_utf8 += 1
            else:
                self.other_utf8 += 1

    def mixes_utf8(self) -> bool:
        """Whether a file that is not valid UTF-8 holds UTF-8 text too."""
        return self.utf8_text_before or self.western_utf8 > 0 or self.other_utf8 > self.stray_bytes


def _refuse_unclear_encoding(path: Path, scan: ByteScan) -> None:
    """Refuse a file that is not UTF-8 and that cp1252 cannot read plausibly either."""
    fix = 'save it as UTF-8, or set encoding in a mapping file (e.g. encoding = "cp1252")'
    if scan.mixes_utf8():
        raise InputError(
            f"{path.name}: line {scan.first_bad_line:,} is not valid UTF-8 but other lines "
            f"are: the file mixes UTF-8 with another encoding; {fix}"
        )
    if scan.undefined:
        line, byte = scan.undefined
        raise InputError(
            f"{path.name}: line {line:,} holds the byte 0x{byte:02X}, which is neither UTF-8 "
            f"nor cp1252 (Windows Western): the file is in another encoding; {fix}"
        )


def _refuse_binary(path: Path, head: bytes) -> None:
    if head.startswith(b"PK\x03\x04"):
        raise InputError(
            f"{path.name} is an Excel workbook (or another zip file), not a CSV; rename it to .xlsx"
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            f"{path.name} is an old-style Excel file, not a CSV; open it in Excel and save as .csv"
        )
    if b"\x00" in head[:8192] and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(
            f"{path.name} is a binary file, not a CSV text file; export the data as .csv or .xlsx"
        )


def scan_bytes(path: Path, encoding: str | None) -> tuple[bytes, ByteScan]:
    """The file's first block and what one pass over all of it learns (``encoding``: the
    mapping's, if any); a binary or empty file is refused."""
    try:
        with path.open("rb") as handle:
            head = handle.read(BLOCK)
            _refuse_binary(path, head)
            utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
            scan = ByteScan(
                eol=b"\n" if b"\n" in head or b"\r" not in head else b"\r",
                weigh=not utf16 and not encoding,
            )
            with _hashing(scan.digest) as hash_block:
                block = head
                while block:
                    hash_block(block)
                    scan.feed(block)
                    block = handle.read(BLOCK)
    except OSError as err:
        raise InputError(f"{path.name} cannot be read ({err.strerror}); check it") from None
    scan.finish()
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise InputError(f"{path.name} is empty; it needs a header row and at least one row")
    return head, scan


@contextlib.contextmanager
def _hashing(digest: Any) -> Iterator[Callable[[bytes], None]]:
    """Within: a function that hands a block to ``digest`` in a thread of its own, beside
    the scan (hashlib lets go of the interpreter lock while it hashes: the SHA-256 of a
    large file costs no time before its rows can be read). Leaving waits for the last."""
    blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=_HASH_AHEAD)
    thread = threading.Thread(target=_hash_all, args=(digest, blocks), name="sha256", daemon=True)
    thread.start()
    try:
        yield blocks.put
    finally:
        blocks.put(None)
        thread.join()


def _hash_all(digest: Any, blocks: queue.Queue[bytes | None]) -> None:
    while (block := blocks.get()) is not None:
        digest.update(block)


def choose_encoding(path: Path, head: bytes, scan: ByteScan, encoding: str | None) -> str:
    """The encoding to read the file with: its mark, else the mapping's, else UTF-8 or
    cp1252 as the scan found."""
    if head.startswith(codecs.BOM_UTF8):
        chosen = "utf-8-sig"  # a BOM is definitive, whatever the mapping says
        if not scan.is_utf8:
            raise InputError(
                f"{path.name}: line {scan.first_bad_line:,} is not valid UTF-8, though the "
                "file starts with a UTF-8 mark; the file mixes UTF-8 with another encoding: "
                "fix that line, or save the whole file as UTF-8 again"
            )
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        chosen = "utf-16"  # Excel's "Unicode Text" export
    elif encoding:
        chosen = encoding
    elif scan.is_utf8:
        chosen = "utf-8"
    else:
        _refuse_unclear_encoding(path, scan)
        chosen = "cp1252"
    try:
        named = codecs.lookup(chosen).name
    except LookupError:
        raise InputError(
            f"unknown encoding '{chosen}'; use e.g. utf-8 or cp1252 in the mapping"
        ) from None
    if encoding and named in ("utf-8", "utf-8-sig") and not scan.is_utf8:
        # read as UTF-8 anyway, its bytes would become U+FFFD and be sent so, unnoticed
        raise InputError(
            f"{path.name}: line {scan.first_bad_line:,} is not valid UTF-8, though the "
            f"mapping says encoding = '{encoding}': fix that line, or set the encoding the "
            'file is in (e.g. encoding = "cp1252")'
        )
    return chosen
