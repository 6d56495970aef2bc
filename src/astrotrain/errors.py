"""Errors a user can cause, and how they end: one clear message, exit code 2."""

from __future__ import annotations

EXIT_USER_ERROR = 2


class UserError(Exception):
    """Bad input from the user (config, data, checkpoint, CLI).

    The message names the key or file at fault and says how to fix it. The CLI prints it
    as one block and exits with code 2, after whoever raised it has removed anything it
    had half-written.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAvailableYet(UserError):
    """A flag or component that is planned (see the issue named) but not built yet."""

    def __init__(self, what: str, planned_in: str):
        super().__init__(f"{what} is not available yet (planned: {planned_in}). Nothing was run.")
