"""Writes for the symbol catalogue. Time-series writes go through ``ingest``/``store``."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.marketdata.models import AssetType, Symbol


def parse_session(value: str) -> tuple[time, time]:
    """``"17:00-16:00"`` -> (17:00, 16:00). ``24:00`` is accepted as an end (= 00:00)."""
    try:
        start_s, end_s = (part.strip() for part in value.split("-"))
        if not all(len(p) == 5 and p[2] == ":" for p in (start_s, end_s)):
            raise ValueError(value)
        start = time.fromisoformat(start_s)
        end = time(0, 0) if end_s == "24:00" else time.fromisoformat(end_s)
    except ValueError:
        raise ValidationError(
            {"session": f"session {value!r} is not HH:MM-HH:MM (e.g. 17:00-16:00)"}
        ) from None
    return start, end


def _decimal(value, field: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"{value!r} is not a number"}) from None
    if not number.is_finite() or number <= 0:
        raise ValidationError({field: f"{field} must be a positive number"})
    return number


def symbol_upsert(
    *,
    symbol: str,
    exchange: str,
    asset_type: str,
    tick_size,
    name: str = "",
    timezone: str = "UTC",
    session: str | None = None,
    price_scale: int = 0,
    is_public: bool = True,
    is_simulated: bool = False,
) -> tuple[Symbol, bool]:
    """Create or update a symbol identified by ``(symbol, exchange)``."""
    if asset_type not in AssetType.values:
        raise ValidationError(
            {"asset_type": f"{asset_type!r} is not one of {', '.join(AssetType.values)}"}
        )
    start, end = parse_session(session) if session else (time(0, 0), time(0, 0))
    code, exch = symbol.strip().upper(), exchange.strip().upper()
    with transaction.atomic():
        obj = Symbol.objects.select_for_update().filter(symbol=code, exchange=exch).first()
        created = obj is None
        obj = obj or Symbol(symbol=code, exchange=exch)
        obj.name = name or obj.name or code
        obj.asset_type = asset_type
        obj.tick_size = _decimal(tick_size, "tick_size")
        obj.timezone = timezone
        obj.session_start, obj.session_end = start, end
        obj.price_scale = price_scale
        obj.is_public = is_public
        obj.is_simulated = is_simulated
        obj.full_clean(validate_unique=False)
        obj.save()
    return obj, created


@dataclass
class CsvImportResult:
    created: int
    updated: int
    errors: list[str]


CSV_COLUMNS = ["symbol", "exchange", "asset_type", "tick_size", "name", "timezone", "session"]


def symbols_import_csv(text: str) -> CsvImportResult:
    """Bulk import from CSV with the header ``CSV_COLUMNS`` (name/timezone/session optional).

    All or nothing: any bad row aborts the import and every error is reported by line.
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = {"symbol", "exchange", "asset_type", "tick_size"} - set(reader.fieldnames or [])
    if missing:
        return CsvImportResult(0, 0, [f"missing column(s): {', '.join(sorted(missing))}"])
    created = updated = 0
    errors: list[str] = []
    with transaction.atomic():
        for line, row in enumerate(reader, start=2):
            try:
                _, was_created = symbol_upsert(
                    symbol=row["symbol"] or "",
                    exchange=row["exchange"] or "",
                    asset_type=(row["asset_type"] or "").strip().lower(),
                    tick_size=row["tick_size"],
                    name=row.get("name") or "",
                    timezone=(row.get("timezone") or "UTC").strip(),
                    session=(row.get("session") or "").strip() or None,
                )
            except ValidationError as exc:
                errors.append(
                    f"line {line}: "
                    + "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                )
                continue
            created += was_created
            updated += not was_created
        if errors:
            transaction.set_rollback(True)
            return CsvImportResult(0, 0, errors)
    return CsvImportResult(created, updated, errors)
