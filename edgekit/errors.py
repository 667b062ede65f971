"""The one exception type for user mistakes: the CLI prints its message on one line and exits 2."""

from __future__ import annotations

import difflib


class EdgekitError(Exception):
    """A problem with the user's input (bad name, bad file, unreachable host, ...).

    The message is a single line that says what is wrong and, where possible, what to do next.
    `exit_code` 2 is a usage/input error; 1 is reserved for "ran fine, but a budget failed".
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


def did_you_mean(name: str, choices, n: int = 3) -> str:
    """' (did you mean: a, b?)' for the closest matches, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""
