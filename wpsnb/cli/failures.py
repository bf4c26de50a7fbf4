"""How the ``wpsnb`` commands fail: exit statuses, :class:`CommandFailed`, and one-line messages.

Exit status: 0 on success, 1 when something failed (no service, refused, not acknowledged), 2 for bad
arguments (including an unusable connection string).

Example::

    >>> one_line(ValueError("two\\n  lines"))
    'ValueError: two lines'
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..advice import explain
from ..errors import InvalidSource, WebPubSubError
from ..source import Source

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandFailed(Exception):
    """A failure to report in one line; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED):
        super().__init__(message)
        self.status = status


def connect_or_fail(
    connect: Callable[[], Any], args: argparse.Namespace, what: str, source: Source | None = None
) -> None:
    """Run ``connect``; turn its failure into :class:`CommandFailed` ("cannot <what> group ...").

    With ``source``, the message says what the failure means for it, with CLI advice
    (:func:`wpsnb.advice.explain`: a refused minted token is an AccessKey that does not match).
    """
    try:
        connect()
    except InvalidSource as exc:
        raise CommandFailed(one_line(exc), EXIT_USAGE) from None
    except (WebPubSubError, OSError, TimeoutError) as exc:
        said = explain(exc, source.kind if source else None, "cli", where=source.describe() if source else "")
        raise CommandFailed(f"cannot {what} group {args.group!r}: {said}") from None
    except ValueError as exc:
        raise CommandFailed(one_line(exc), EXIT_USAGE) from None


def exit_status(exc: BaseException) -> int:
    """2 for an unusable source (the user's to fix in the arguments), else 1.

    >>> exit_status(TimeoutError())
    1
    """
    return EXIT_USAGE if isinstance(exc, InvalidSource) else EXIT_FAILED


def one_line(exc: BaseException) -> str:
    """The error as one line, led by its name (``Forbidden: ...``)."""
    name = getattr(exc, "name", None) or type(exc).__name__
    text = " ".join(str(exc).split())
    return f"{name}: {text}" if name and not text.startswith(name) else text
