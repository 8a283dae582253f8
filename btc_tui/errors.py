"""Errors that mean "the user's input is unusable": the CLI prints them briefly and exits 2."""


class UsageError(Exception):
    """Unusable input (missing/empty/garbage file, too few rows, a locked file...).

    The message is shown to the user as is, so it must name the problem and the file.
    """
