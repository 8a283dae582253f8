"""Errors that mean "the user's input is unusable": the CLI prints them briefly and exits 2."""


class UsageError(Exception):
    """Unusable input (missing/empty/garbage file, too few rows, a locked file...).

    The message is shown to the user as is, so it must name the problem and the file.
    """


class StorageError(Exception):
    """The disk refused a write (full, read-only, gone, not a regular file...).

    One clear line for the user; headless commands exit 3 so scripts can tell it from bad input.
    Whatever could not be written was not counted as written.
    """


EXIT_USAGE = 2
EXIT_STORAGE = 3
EXIT_INTERRUPTED = 130  # Ctrl+C: 128 + SIGINT, as shells report it
