"""Declared permissions: the single source for policies, the usage table, the preflight check and the guard."""

from skyvault.permissions.registry import (
    REGISTRY,
    Feature,
    Permission,
    Registry,
    declare,
)

__all__ = ["REGISTRY", "Feature", "Permission", "Registry", "declare"]
