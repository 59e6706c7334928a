"""The meta-test: walks the driver registry and fails when any part of a driver is missing or drifts.

Adding a driver is one package under ``services/`` and one line in ``services/registry.DRIVERS``; this test is what
says the driver is complete (CONTRIBUTING.md, "Adding a driver").
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from skyvault.catalog import Catalog
from skyvault.cli import restore as restore_cli
from skyvault.errors import NotFoundError, SkyvaultError
from skyvault.jobs.context import JobContext
from skyvault.permissions.modules import load_declarations
from skyvault.services import registry
from skyvault.services.base import SERVICES
from skyvault.services.contract import ServiceDriver
from skyvault.services.rds.backup import intermediate_type, share_type
from skyvault.services.rds.snapshots import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = registry.all_drivers()


def _python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (nothing imported yet) with this checkout's sources; its stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _package(driver: ServiceDriver) -> str:
    """``skyvault.services.ec2`` for the ec2 driver: the package its module lives in."""
    return registry.DRIVERS[driver.name].partition(":")[0].rsplit(".", 1)[0]


# -- the registry itself ------------------------------------------------------------------------------------
def test_importing_the_registry_imports_no_driver() -> None:
    loaded = json.loads(
        _python("""
            import json, sys
            import skyvault.services.registry
            print(json.dumps(sorted(sys.modules)))
        """)
    )
    drivers = [m for m in loaded if m.startswith("skyvault.services.") and m.count(".") >= 3]
    assert drivers == []  # no skyvault.services.<driver>.<module>: a name is imported when it is used
    assert not {f"skyvault.services.{name}" for name in registry.DRIVERS} & set(loaded)


@pytest.mark.parametrize("name", sorted(registry.DRIVERS))
def test_every_entry_imports_and_is_the_named_driver(name: str) -> None:
    module_name, _, attribute = registry.DRIVERS[name].partition(":")
    found = getattr(importlib.import_module(module_name), attribute)
    assert isinstance(found, ServiceDriver) and found.name == name
    assert registry.driver(name) is found


def test_an_unknown_driver_or_kind_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        registry.driver("nosuchdriver")
    with pytest.raises(NotFoundError):
        registry.job_body("backup-nosuchkind")


def test_point_kinds_table_matches_the_drivers() -> None:
    declared = {kind: d.name for d in DRIVERS for kind in d.recovery_point_kinds}
    assert sum(len(d.recovery_point_kinds) for d in DRIVERS) == len(declared)  # no kind claimed twice
    assert declared == registry.POINT_KINDS


# -- every recovery-point kind: backup, restore, expirer, docs ----------------------------------------------
@pytest.mark.parametrize("kind", sorted(registry.POINT_KINDS))
def test_every_point_kind_has_backup_restore_expirer_and_docs(kind: str) -> None:
    driver = registry.driver_for_kind(kind)
    for job_kind in (f"backup-{kind}", f"restore-{kind}"):
        body = registry.job_body(job_kind)
        assert body is driver.jobs[job_kind]
        assert list(inspect.signature(body).parameters) == ["ctx", "spec", "env"]
    assert registry.expirer_for(kind) is driver.expirers[kind]
    assert callable(driver.prepare_resume)
    docs = ROOT / driver.docs
    assert docs.is_file(), f"{driver.name}: docs {driver.docs} does not exist"
    assert kind.lower() in docs.read_text().lower()


def test_jobs_and_expirers_belong_to_their_drivers_kinds() -> None:
    for driver in DRIVERS:
        for job_kind in driver.jobs:
            operation, _, subject = job_kind.partition("-")
            # convert-image: the image driver converts disk images (and its recovery points) into EC2.
            assert operation in ("backup", "restore", "convert") and subject in driver.recovery_point_kinds, job_kind
        assert set(driver.expirers) == set(driver.recovery_point_kinds), driver.name


# -- intermediates ------------------------------------------------------------------------------------------
def test_each_intermediate_type_has_one_cleaner() -> None:
    types = [t for d in DRIVERS for t in d.cleaners]
    assert len(types) == len(set(types)), "two drivers clean the same intermediate type"
    for driver in DRIVERS:
        for resource_type, cleaner in driver.cleaners.items():
            assert registry.cleaner_for(resource_type) is cleaner


def test_computed_intermediate_types_have_cleaners() -> None:
    # The database steps build their types from the snapshot family: every family's types must be cleaned.
    for family in FAMILIES.values():
        assert registry.cleaner_for(intermediate_type(family)) is not None
        assert registry.cleaner_for(share_type(family)) is not None


def test_the_job_context_refuses_an_intermediate_type_no_driver_cleans(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path)
    job = catalog.start_job("backup-ec2", {})
    context = JobContext(job.id, catalog, None, steps={}, has_cleaner=lambda t: registry.cleaner_for(t) is not None)  # type: ignore[arg-type]
    with pytest.raises(SkyvaultError, match="no driver declares a cleaner"):
        context.intermediate("ec2-snapshot", "svt-1", "admin", "us-east-1")  # a typo of ec2-snapshots
    for resource_type in (t for d in DRIVERS for t in d.cleaners):
        context.intermediate(resource_type, f"id-{resource_type}", "admin", "us-east-1")
    assert len(catalog.live_intermediates(job.id)) == sum(len(d.cleaners) for d in DRIVERS)


# -- discovery and restore options --------------------------------------------------------------------------
def test_discoverers_cover_the_services_once() -> None:
    names = [s for d in DRIVERS for s in (*d.discoverers, *d.account_discoverers)]
    assert sorted(names) == sorted(SERVICES) and len(names) == len(set(names))


def test_restore_options_are_options_of_the_restore_command() -> None:
    command = restore_cli_parameters()
    for driver in DRIVERS:
        assert driver.restore_options <= command, (driver.name, driver.restore_options - command)


def restore_cli_parameters() -> set[str]:
    import typer

    app = typer.Typer()
    restore_cli.register(app)
    [info] = app.registered_commands
    assert info.callback is not None
    return set(inspect.signature(info.callback).parameters) - {"ctx", "recovery_point", "yes"}


# -- permissions ----------------------------------------------------------------------------------------------
def test_permission_rows_exist() -> None:
    rows = set(load_declarations().policies())
    for driver in DRIVERS:
        assert set(driver.permission_rows) <= rows, (driver.name, set(driver.permission_rows) - rows)


def _declaring_modules() -> dict[str, list[str]]:
    """Module -> the policy rows of the permissions it declares (a fresh process records who called declare)."""
    return dict(
        json.loads(
            _python("""
                import json, sys
                from skyvault.permissions import registry as permissions

                declared = {}
                add = permissions.Registry.add

                def recording_add(self, permission):
                    # The module being imported when the declaration ran (a helper may make it for its caller).
                    frame = sys._getframe(1)
                    while frame.f_code.co_name != "<module>":
                        frame = frame.f_back
                    declared.setdefault(frame.f_globals["__name__"], []).append(permission.policy)
                    return add(self, permission)

                permissions.Registry.add = recording_add
                from skyvault.permissions.modules import load_declarations
                load_declarations()
                print(json.dumps(declared))
            """)
        )
    )


def test_every_operation_a_driver_declares_is_in_one_of_its_rows() -> None:
    declared: dict[str, Any] = _declaring_modules()
    packages = {_package(d): d for d in DRIVERS}
    for module, rows in declared.items():
        if not module.startswith("skyvault.services."):
            continue
        package = module.rsplit(".", 1)[0]
        assert package in packages, f"{module} declares permissions but belongs to no driver"
        driver = packages[package]
        assert set(rows) <= set(driver.permission_rows), (module, set(rows) - set(driver.permission_rows))
    for driver in DRIVERS:
        mine = {row for module, rows in declared.items() if module.startswith(_package(driver) + ".") for row in rows}
        assert mine == set(driver.permission_rows), (driver.name, mine)  # no row claimed that nothing uses
