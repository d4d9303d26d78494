"""The one exception type the CLI turns into a clear message and a non-zero exit."""

__all__ = ["IntelbusError"]


class IntelbusError(Exception):
    """An error a user can act on; its message says what went wrong and what to do."""
