"""cg-import: import spreadsheets of activities into CustomerGauge, reconciled row by row.

The pipeline, one module a stage: ``read`` → ``mapping`` → ``validate`` → ``send`` →
``report``; ``pipeline`` wires them, ``cli`` is the command line over it.
"""

__version__ = "0.2.0"

from .config import Settings
from .errors import (
    AuthError,
    ImporterError,
    InputError,
    MappingError,
    ReportError,
    ResumeError,
    UsageError,
)
from .pipeline import RunSummary, import_file, validate_file
from .validate import RowIssue

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
