"""cg-import: import spreadsheets of activities into CustomerGauge, reconciled row by row.

The pipeline, one module a stage: ``read`` → ``mapping`` → ``validate`` → ``send`` →
``report``; ``pipeline`` wires them, ``cli`` is the command line over it.

The library's face loads its stages when first asked for (``importer.import_file``…): the
command line imports this package before it can catch a Ctrl-C, and pandas takes most of a
second to load.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    AuthError,
    ImporterError,
    InputError,
    MappingError,
    ReportError,
    ResumeError,
    UsageError,
)

__version__ = "0.2.0"

if TYPE_CHECKING:
    from .config import Settings
    from .pipeline import import_file, validate_file
    from .summary import RunSummary
    from .validate import RowIssue

#: the names loaded when first used, and their modules
_LATER = {
    "Settings": ".config",
    "RunSummary": ".summary",
    "import_file": ".pipeline",
    "validate_file": ".pipeline",
    "RowIssue": ".validate",
}


def __getattr__(name: str) -> Any:
    if name in _LATER:
        return getattr(import_module(_LATER[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AuthError",
    "ImporterError",
    "InputError",
    "MappingError",
    "ReportError",
    "ResumeError",
    "RowIssue",
    "RunSummary",
    "Settings",
    "UsageError",
    "import_file",
    "validate_file",
]
