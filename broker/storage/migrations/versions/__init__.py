"""Alembic revision files of the ``registry`` branch (and any feature that chains onto it)."""
