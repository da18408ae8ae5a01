"""Errors of the ingest path, in the shapes SPEC section 3 documents."""

from __future__ import annotations

from dataclasses import asdict, dataclass

MAX_REPORTED_ROWS = 100  # a 50k-row batch with every row bad should not echo 50k errors


@dataclass(frozen=True)
class RowError:
    index: int
    field: str
    message: str


class InvalidRows(Exception):
    """A batch with at least one invalid row: 422, nothing written."""

    def __init__(self, errors: list[RowError], total: int | None = None):
        self.errors = sorted(errors, key=lambda e: (e.index, e.field))
        self.total = total if total is not None else len(errors)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        rows = len({e.index for e in self.errors})
        return f"{rows} invalid row(s); nothing was stored"

    def body(self) -> dict:
        return {
            "error": {
                "code": "invalid_rows",
                "message": self.message,
                "rows": [asdict(e) for e in self.errors[:MAX_REPORTED_ROWS]],
                "truncated": len(self.errors) > MAX_REPORTED_ROWS,
            }
        }


class PayloadError(Exception):
    """The request as a whole is malformed (not JSON, wrong shape): 400."""

    def __init__(self, message: str, code: str = "invalid_payload"):
        self.code = code
        super().__init__(message)


class TooLarge(Exception):
    """More rows or bytes than the configured limit: 413."""


class UnknownSymbol(Exception):
    """404 unless the feed key may auto-create symbols."""


class SymbolNotAllowed(Exception):
    """The feed key is limited to other symbols: 403."""
