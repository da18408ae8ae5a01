"""The one exception every feed reader raises for bad input.

Management commands turn it into a ``CommandError``; the ingest path reports it to the feed
operator. It is a ``ValueError`` so callers that only know "bad value" still catch it.
"""

from __future__ import annotations


class FeedFormatError(ValueError):
    """The input does not follow the feed's format.

    ``path`` and ``line`` (1-based physical line of a text file) are set when known, and are
    also part of the message so a plain ``str(exc)`` is enough to find the bad spot.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: object | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        super().__init__(": ".join([*where, reason]))
