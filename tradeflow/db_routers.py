"""Keep every ORM model on ``default``; ``marketdata`` is reached only by raw SQL.

The market-data store (apps/marketdata/store/) uses ``connections["marketdata"]`` directly,
so no model ever needs that alias; refusing migrations there keeps Django's tables out of
the time-series database.
"""

MARKETDATA = "marketdata"


class MarketDataRouter:
    def db_for_read(self, model, **hints):
        return "default"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != MARKETDATA
