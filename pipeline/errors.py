"""Errors that reach the user as one line on stderr and a non-zero exit."""


class FinsentError(Exception):
    """A problem the user can fix; its message is shown as is."""
