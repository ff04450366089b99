"""Errors that reach the user as one line on stderr and a non-zero exit."""


class FinsentError(Exception):
    """A problem the user can fix; its message is shown as is. Exit status 1."""

    exit_code = 1


class UsageError(FinsentError):
    """A command given a value it cannot take (as Click's usage errors). Exit status 2."""

    exit_code = 2
