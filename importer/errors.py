"""The exception tree: an exception means the whole run cannot go on.

Problems with single rows are never exceptions; they are ``RowIssue`` records
(see ``validate.py``) that end up in the report.

    ImporterError              base; ``str(err)`` is one line naming the problem and the fix
    ├── UsageError             bad flags or option values
    ├── InputError             the input file cannot be read as a table
    ├── MappingError           the mapping file is broken or does not fit the input
    ├── ResumeError            --resume against a different file or a missing journal
    ├── ReportError            the report cannot be written
    ├── AuthError              the token endpoint refused the credentials or cannot be reached
    └── SendingStopped         rows were sent, then one of the above (or a defect) stopped
                               the run: its ``cause`` says what; ``--resume`` continues

``cli.py`` turns every one of them into a single line on stderr and exit code 2, except a
``SendingStopped`` after rows were imported: exit 1 and the ``--resume`` line (what the
journal holds was done, whatever failed afterwards).
"""

from __future__ import annotations


class ImporterError(Exception):
    """Base of every error that stops a run before or while it works."""


class UsageError(ImporterError):
    """A flag or option value that cannot work."""


class InputError(ImporterError):
    """The input file cannot be read as a table."""


class MappingError(ImporterError):
    """The mapping file is broken or names headers the input lacks."""


class ResumeError(ImporterError):
    """--resume cannot continue the earlier run."""


class ReportError(ImporterError):
    """The report or its companions cannot be written."""


class AuthError(ImporterError):
    """The API refused the client credentials or its token endpoint is unreachable."""


class SendingStopped(ImporterError):
    """Sending began, then ``cause`` stopped the run; ``imported`` rows of this run are in
    the journal (their report was written if it could be)."""

    def __init__(self, cause: ImporterError, imported: int) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.imported = imported


def internal_error(err: BaseException) -> str:
    """The one line that tells a defect (not the analyst's problem) and how to report it."""
    return (
        f"internal error: {err.__class__.__name__}: {err} (please report it; set "
        "CG_IMPORT_DEBUG=1 to see the traceback)"
    )


def as_error(err: Exception) -> ImporterError:
    """``err`` as one line of the exception tree (a defect says it is one)."""
    if isinstance(err, ImporterError):
        return err
    return ImporterError(internal_error(err))
