"""How many bars a recursive indicator needs before it forgets where it started.

Recursive smoothers (EMA, Wilder's RMA, KAMA, MAMA, Hilbert-transform stages) carry an
internal state seeded from the first bars they see. A computation started N bars later
seeds from different bars, and the two only agree once the seed's weight has decayed:
after ``k`` bars the seed still weighs ``(1 - alpha) ** k``.

``warmup_bars`` promises values equal to a full-history computation to 1e-9 relative.
The seed discrepancy can be larger than the value itself (MACD is a small difference of
two large EMAs; a histogram is smaller still), so we decay the seed to ``SEED_TOLERANCE``
= 1e-11, leaving a factor of 100 for that amplification. For alpha = 2/(n+1) this is about
``12.7 * n`` bars, for Wilder's alpha = 1/n about ``25 * n`` bars: a plain "10 x period"
rule would be too short for RSI/ATR/ADX (0.93**140 is 5e-5, not 1e-9).

Stages in series (MACD's signal EMA runs on the slow EMA's output) add up their memories;
parallel stages (MACD's fast and slow EMAs) take the maximum.
"""

from __future__ import annotations

import math

SEED_TOLERANCE = 1e-11
_LOG_TOL = -math.log(SEED_TOLERANCE)

# Hilbert-transform functions (HT_*, MAMA) smooth with fixed weights 0.2 and 0.33 over
# several cascaded stages and an adaptive period estimate; 400 bars decays all of them well
# past the tolerance (checked on real data in tests/test_warmup.py for every HT function).
HILBERT_MEMORY = 400

# State machines (Parabolic SAR, SuperTrend's band ratchet) have no decay rate: two runs
# agree exactly once both have passed the same trend reversals. On MSFT/GOOG daily and
# EURUSD hourly they agreed exactly after 100-200 bars; 250 is the best-effort settle we
# add for them (they stay flagged ``path_dependent``: no guarantee in a market that does
# not reverse).
STATE_MACHINE_SETTLE = 250


def settle(alpha: float) -> int:
    """Bars for a first-order recursion with smoothing factor ``alpha`` to forget its seed."""
    if alpha >= 1.0:
        return 0
    if alpha <= 0.0:
        raise ValueError("alpha must be positive")
    return math.ceil(_LOG_TOL / -math.log1p(-alpha))


def ema_memory(period: float) -> int:
    """EMA with alpha = 2 / (period + 1) (TA-Lib EMA, DEMA/TEMA/T3 stages, ZLEMA)."""
    return settle(2.0 / (period + 1.0))


def wilder_memory(period: float) -> int:
    """Wilder smoothing / SMMA / RMA with alpha = 1 / period (RSI, ATR, ADX, CMO)."""
    return settle(1.0 / max(period, 1.0))


# KAMA's smoothing constant is (ER * (2/3 - 2/31) + 2/31) ** 2; in a flat market (ER = 0)
# it falls to (2/31)**2, the worst case we must cover.
KAMA_MEMORY = settle((2.0 / 31.0) ** 2)


def mama_memory(slow_limit: float = 0.05) -> int:
    """MAMA's alpha is clamped to [slow_limit, fast_limit]; FAMA uses half of it."""
    return HILBERT_MEMORY + settle(0.5 * slow_limit)


def ma_memory(matype: int, period: int) -> int:
    """Memory of TA-Lib's ``MA(period, matype)`` for each MA type."""
    if matype in (0, 2, 5, 9, 10):  # SMA, WMA, TRIMA, HMA, none: finite windows
        return 0
    if matype in (1, 12):  # EMA, ZLEMA
        return ema_memory(period)
    if matype == 3:  # DEMA = 2 EMA stages
        return 2 * ema_memory(period)
    if matype == 4:  # TEMA
        return 3 * ema_memory(period)
    if matype == 6:
        return KAMA_MEMORY
    if matype == 7:
        return mama_memory()
    if matype == 8:  # T3 = 6 EMA stages
        return 6 * ema_memory(period)
    if matype == 13:  # Wilder
        return wilder_memory(period)
    # Unknown or "function's own default" MA type: assume the slowest common smoother.
    return 2 * wilder_memory(period)
