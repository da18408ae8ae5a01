"""Indicator service layer: what the REST API and the ``/ws/indicators/`` stream call.

The maths lives in ``apps.marketdata.analytics.indicators`` (pure numpy/TA-Lib, no Django).
This package adds what needs the platform:

* ``service``: bars from the store with enough warm-up, one fetch per (symbol, timeframe),
  every requested spec computed from it, and a Redis cache of the resulting series;
* ``streams``: the subscription registry in Redis (shared by every server process) and the
  per-process tail recomputation that turns coalesced tick broadcasts into
  ``indicator_update`` messages;
* ``custom_specs``: the hook through which the charts app (which owns saved formulas)
  makes ``CUSTOM_<id>`` usable as a spec without marketdata importing charts (DESIGN:
  dependencies point ``charts -> marketdata`` only).
"""
