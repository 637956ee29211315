"""Taiji's participant SDK for the transaction engine: what a service needs to take part safely.

It depends on SQLAlchemy only, so any Python service can use it (docs/tx-protocol.md).
"""
