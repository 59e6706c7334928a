"""Alembic migrations of the catalog (``env.py`` and ``versions/``); run through ``skyvault.catalog.schema``."""
