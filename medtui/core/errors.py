"""Errors the core raises for bad input. The CLI turns them into a message and exit code 2."""


class MedtuiError(Exception):
    """Bad input or state that the user can fix; shown as a message, never a traceback."""
