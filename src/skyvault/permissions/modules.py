"""Import every module that may declare permissions, so the registry is complete before it is rendered.

Declarations are module-level ``declare(...)`` calls: a policy, the usage table or the preflight check must see
all of them, not only those of the modules a command happened to import. The lab (which imports moto) and the
CLI declare nothing and are skipped.
"""

from __future__ import annotations

import importlib
import pkgutil

from skyvault.permissions.registry import REGISTRY, Registry

DECLARING_PACKAGES = (
    "skyvault.aws",
    "skyvault.library",
    "skyvault.services",
    "skyvault.engine",
    "skyvault.permissions",
)


def load_declarations() -> Registry:
    for package_name in DECLARING_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ModuleNotFoundError as exc:
            if exc.name == package_name:
                continue  # a layer that does not exist yet declares nothing
            raise
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            importlib.import_module(module.name)
    return REGISTRY
