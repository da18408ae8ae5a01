"""Exceptions raised by the indicator library.

Both carry a plain-language ``message`` that the REST/WebSocket layer returns verbatim in
``{"error": {"code": ..., "message": ...}}``; they never contain stack traces or internals,
so they are safe to show to the user who typed the spec or formula.
"""

from __future__ import annotations


class InvalidIndicator(ValueError):
    """An indicator spec that cannot be computed: unknown name, bad arity or bad params.

    ``code`` is the wire error code of SPEC section 4 (``INVALID_INDICATOR``).
    """

    code = "INVALID_INDICATOR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FormulaError(ValueError):
    """A custom-indicator formula that is rejected or failed to evaluate.

    ``position`` is the 0-based character offset of the offending token in the formula
    text (``None`` when the error is not tied to a token, e.g. a time limit); ``line`` and
    ``col`` are the same place as 1-based line and column, for editors.
    """

    code = "INVALID_FORMULA"

    def __init__(
        self,
        message: str,
        position: int | None = None,
        *,
        line: int | None = None,
        col: int | None = None,
    ) -> None:
        where = f" (at offset {position})" if position is not None else ""
        super().__init__(message + where)
        self.message = message
        self.position = position
        self.line = line
        self.col = col
