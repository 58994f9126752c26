"""The exit codes: all done, not all rows imported, nothing done, interrupted."""

EXIT_OK, EXIT_NOT_ALL, EXIT_NOTHING_DONE, EXIT_INTERRUPTED = 0, 1, 2, 130
