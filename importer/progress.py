"""The callback the stages report progress through (``Progress``): only the CLI draws it."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """How stages report progress; only the CLI draws it."""

    def start(self, total: int | None, what: str) -> None: ...
    def advance(self, rows: int) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self) -> None: ...


class Silent:
    """No progress shown: a run from the library, or a test."""

    def start(self, total: int | None, what: str) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass
