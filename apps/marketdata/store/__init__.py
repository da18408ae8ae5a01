"""The market-data store: raw SQL on the ``marketdata`` PostgreSQL connection.

Nothing else in the project touches the time-series tables. SQL lives in named constants
(``sql.py``), parameters are always bound, and identifiers come only from allow-lists.
"""
