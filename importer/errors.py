"""The exception tree: an exception means the whole run cannot go on.

Problems with single rows are never exceptions; they are ``RowIssue`` records
(see ``validate.py``) that end up in the report.

    ImporterError              base; ``str(err)`` is one line naming the problem and the fix
    ├── UsageError             bad flags or option values
    ├── InputError             the input file cannot be read as a table
    ├── MappingError           the mapping file is broken or does not fit the input
    ├── ResumeError            --resume against a different file or a missing journal
    ├── ReportError            the report cannot be written
    └── AuthError              the token endpoint refused the credentials or cannot be reached

``cli.py`` turns every one of them into a single line on stderr and exit code 2.
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
