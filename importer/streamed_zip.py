"""A big part of a zip package (an ``.xlsx`` sheet's rows) compressed while it is written,
beside the work that produces it, then spliced into the package the writer made.

XlsxWriter in ``constant_memory`` mode writes a sheet's rows to a temporary file, copies
them into the sheet's XML when the workbook is closed and only then compresses them: a
million report rows are ~0.8 GB of XML written twice, read twice and deflated at the end,
after every row was checked. Here the rows are deflated as they come, by a thread (zlib
works without the interpreter lock, so the compression runs on the second core while rows
are checked on the first), into an anonymous temporary file; the package XlsxWriter
closes holds a marker where the rows go, and ``splice`` writes the final package: each
entry copied as it is, the marked one as three deflate streams end to end (before the
marker, the rows, after it; each flushed to a byte boundary, as pigz joins its pieces),
with the CRC of the whole computed from the three (``crc32_combine``).

An entry of 2 GiB or more is refused, as XlsxWriter refuses it (no ZIP64).
"""

from __future__ import annotations

import contextlib
import queue
import struct
import tempfile
import threading
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, Any

#: the largest entry written, as XlsxWriter's own limit without ZIP64
ENTRY_MAX = zipfile.ZIP64_LIMIT
#: zlib's default level, XlsxWriter's (and zipfile's) too
LEVEL = 6
_QUEUED = 2  # blocks waiting for the compressing thread: memory stays bounded
_COPY = 1 << 20
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")


class TooLarge(Exception):
    """An entry of ``ENTRY_MAX`` bytes or more."""


def _times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _square(matrix: list[int]) -> list[int]:
    return [_times(matrix, matrix[n]) for n in range(32)]


def crc32_combine(first: int, second: int, second_length: int) -> int:
    """The CRC-32 of two byte strings end to end, from the CRC of each and the length of
    the second (zlib's ``crc32_combine``, which Python's zlib does not offer)."""
    if second_length <= 0:
        return first
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # the operator for one zero bit
    even = _square(odd)  # two zero bits
    odd = _square(even)  # four
    while True:
        even = _square(odd)
        if second_length & 1:
            first = _times(even, first)
        second_length >>= 1
        if not second_length:
            break
        odd = _square(even)
        if second_length & 1:
            first = _times(odd, first)
        second_length >>= 1
        if not second_length:
            break
    return first ^ second


@dataclass
class Piece:
    """A deflate stream flushed to a byte boundary, not final: its CRC and sizes."""

    crc: int
    size: int
    compressed: int
    file: IO[bytes]


class DeflateStream:
    """Text deflated as it is written, by a thread of its own, into a temporary file."""

    def __init__(self) -> None:
        # no name: nothing is left behind, whatever happens; closed by discard()
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
        self._crc = 0
        self._size = 0
        self._compressed = 0
        self._error: BaseException | None = None
        self._queue: queue.Queue[bytes | None] = queue.Queue(_QUEUED)
        self._thread = threading.Thread(target=self._work, name="deflate", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the writer learns of it on its next write
            try:
                self._crc = zlib.crc32(data, self._crc)
                self._size += len(data)  # too large is refused by splice, as XlsxWriter does
                self._put(self._deflate.compress(data))
            except BaseException as err:
                self._error = err

    def _put(self, data: bytes) -> None:
        self._file.write(data)
        self._compressed += len(data)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, text: str) -> None:
        self._raise()
        self._queue.put(text.encode("utf-8"))

    def finish(self) -> Piece:
        """Wait for the thread; the stream, flushed to a byte boundary, rewound."""
        self._queue.put(None)
        self._thread.join()
        self._raise()
        self._put(self._deflate.flush(zlib.Z_SYNC_FLUSH))
        self._file.seek(0)
        return Piece(self._crc, self._size, self._compressed, self._file)

    def discard(self) -> None:
        """Stop the thread and drop what was written."""
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("discarded")
            self._queue.put(None)
            self._thread.join()
        with contextlib.suppress(OSError):
            self._file.close()


def _deflated(data: bytes, mode: int) -> bytes:
    deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return deflate.compress(data) + deflate.flush(mode)


class _Out:
    """The package being written: entries one after the other, then the directory."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.offset = 0
        self.central: list[bytes] = []

    def entry(self, info: zipfile.ZipInfo, crc: int, size: int, pieces: list[Any]) -> None:
        """One entry: ``pieces`` are its compressed bytes and files, in order."""
        compressed = sum(p.compressed if isinstance(p, Piece) else len(p) for p in pieces)
        if size >= ENTRY_MAX or compressed >= ENTRY_MAX or self.offset >= ENTRY_MAX:
            raise TooLarge(f"{info.filename} would have {size:,} bytes")
        name = info.filename.encode("utf-8")
        flags = 0x800 if name != info.filename.encode("ascii", "ignore") else 0
        y, mo, d, h, mi, s = info.date_time
        date, time = (y - 1980) << 9 | mo << 5 | d, h << 11 | mi << 5 | s // 2
        method = info.compress_type
        fields = (20, flags, method, time, date, crc, compressed, size, len(name))
        made_by = info.create_system << 8 | info.create_version
        self.central.append(
            _CENTRAL.pack(
                b"PK\x01\x02", made_by, *fields, 0, 0, 0, 0, info.external_attr, self.offset
            )
            + name
        )
        header = _LOCAL.pack(b"PK\x03\x04", *fields, 0) + name
        self.out.write(header)
        self.offset += len(header) + compressed
        for piece in pieces:
            if isinstance(piece, Piece):
                while chunk := piece.file.read(_COPY):
                    self.out.write(chunk)
            else:
                self.out.write(piece)

    def close(self) -> None:
        directory = b"".join(self.central)
        self.out.write(directory)
        count = len(self.central)
        self.out.write(_END.pack(b"PK\x05\x06", 0, 0, count, count, len(directory), self.offset, 0))


def splice(source: IO[bytes], parts: dict[str, tuple[bytes, Piece]], out: IO[bytes]) -> None:
    """Write ``source``'s package to ``out``, each entry named in ``parts`` with the piece
    in place of its marker (``parts``: entry name → marker, piece)."""
    package = _Out(out)
    spliced = set()
    with zipfile.ZipFile(source) as book:
        for info in book.infolist():
            data = book.read(info)
            marker, piece = parts.get(info.filename, (b"", None))
            at = data.find(marker) if piece is not None else -1
            if piece is None or at < 0:
                pieces: list[Any] = [_deflated(data, zlib.Z_FINISH)]
                info.compress_type = zipfile.ZIP_DEFLATED
                package.entry(info, zlib.crc32(data), len(data), pieces)
                continue
            spliced.add(info.filename)
            before, after = data[:at], data[at + len(marker) :]
            crc = crc32_combine(zlib.crc32(before), piece.crc, piece.size)
            crc = crc32_combine(crc, zlib.crc32(after), len(after))
            pieces = [
                _deflated(before, zlib.Z_SYNC_FLUSH),
                piece,
                _deflated(after, zlib.Z_FINISH),
            ]
            info.compress_type = zipfile.ZIP_DEFLATED
            package.entry(info, crc, len(before) + piece.size + len(after), pieces)
    if spliced != set(parts):  # never a package without its rows
        raise ValueError(f"no place for the rows of {sorted(set(parts) - spliced)}")
    package.close()
