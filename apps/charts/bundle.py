"""Which JavaScript the chart page loads: the built bundle, or the modules one by one.

``scripts/setup.sh`` (so ``make run``, ``make test`` and ``make bench``) bundles the
chart page with esbuild: ``static/charts/terminal.js`` and every module it imports (the
deferred ones too) -> ``static/build/chart-page.js``, one minified file (gitignored,
rebuilt when a source changes). One request and one module instead of a dozen on the way
to the first candle. lightweight-charts stays its own standalone script either way,
loaded ``async`` so that it is evaluated while the page's bars are still on their way.

Without the bundle the page still works: it loads ``static/charts/terminal.js`` and its
imports as native modules (slower to the first candle), and logs a warning once;
``manage.py check`` warns too (``tradeflow.W001`` below). With ``DEBUG`` on, a bundle
older than any source under ``static/charts/`` counts as missing, so an edited module
shows up on reload before setup runs again.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core import checks
from django.templatetags.static import static

logger = logging.getLogger(__name__)

BUNDLE = "build/chart-page.js"  # static path
_warned: set[str] = set()


def _state(root: Path) -> str:
    """The bundle: "ok", "missing" or "stale" (a source under static/charts/ is newer)."""
    try:
        mtime = (root / "static" / BUNDLE).stat().st_mtime
    except OSError:
        return "missing"
    sources = [*(root / "static/charts").rglob("*.js"), root / "package-lock.json"]
    if any(path.stat().st_mtime > mtime for path in sources if path.exists()):
        return "stale"
    return "ok"


@lru_cache(maxsize=4)
def _state_once(root: Path) -> str:
    return _state(root)


def bundle_url() -> str | None:
    """The bundle's static URL, or None: load the modules one by one."""
    root = Path(settings.BASE_DIR)
    state = _state(root) if settings.DEBUG else _state_once(root)
    if state == "ok":
        return static(BUNDLE)
    if state not in _warned:
        _warned.add(state)
        logger.warning(
            "chart page: %s is %s; loading the modules one by one (run scripts/setup.sh)",
            BUNDLE,
            state,
        )
    return None


@checks.register()
def check_bundle(app_configs=None, **kwargs):
    state = _state(Path(settings.BASE_DIR))
    if state == "ok":
        return []
    return [
        checks.Warning(
            f"The chart page's JavaScript bundle (static/{BUNDLE}) is {state}.",
            hint="Run scripts/setup.sh (make run / make test do) to build it with esbuild; "
            "until then the chart page loads its modules one by one.",
            id="tradeflow.W001",
        )
    ]
