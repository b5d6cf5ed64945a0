"""Revisioned persistence for the broker (SQLite by default, PostgreSQL in production)."""

from broker.storage.factory import create_store
from broker.storage.interface import (
    CatalogBaseline,
    Change,
    Delete,
    EntityDiff,
    EntityRef,
    Page,
    RegistryStore,
    RevisionInfo,
    Upsert,
)
from broker.storage.migrations import migrate, register_version_location

__all__ = [
    "CatalogBaseline",
    "Change",
    "Delete",
    "EntityDiff",
    "EntityRef",
    "Page",
    "RegistryStore",
    "RevisionInfo",
    "Upsert",
    "create_store",
    "migrate",
    "register_version_location",
]
