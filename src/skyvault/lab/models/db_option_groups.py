"""Lab model: RDS option groups travel with DB snapshots, and a cross-region copy must name one where AWS says so.

What AWS does (RDS User Guide, "Working with option groups" and "Copying a DB snapshot"; API reference,
``CopyDBSnapshot`` ``OptionGroupName``; AWS Backup developer guide, "Cross-Region copy considerations"):
- A DB snapshot is associated with the option group of its instance (``DescribeDBSnapshots`` ``OptionGroupName``).
  A restore that names no option group gets the snapshot's; one that names another must carry the persistent and
  permanent options of the snapshot's group (Oracle and SQL Server TDE, Oracle TIMEZONE).
- Option groups belong to a region. ``CopyDBSnapshot`` into another region takes ``OptionGroupName`` (a group in
  the destination): "Specify this option if you are copying a snapshot from one AWS Region to another, and your DB
  instance uses a nondefault option group. If your source DB instance uses Transparent Data Encryption for Oracle
  or Microsoft SQL Server, you must specify this option when copying across Regions." Without it, a snapshot
  whose group holds persistent options is refused ("The snapshot requires a target option group with the
  following options: ..."), and otherwise the copy gets the destination's default group: the source's options are
  lost. A same-region copy keeps the snapshot's group.
- ``DescribeOptionGroups`` reports each option's ``Persistent`` and ``Permanent`` flags.

What moto 5.2.1 does: snapshots carry no option group, ``CopyDBSnapshot`` ignores ``OptionGroupName``, options
have no flags, and a restore gets the default group.

What the lab does: all of the above for DB instance snapshots. Persistent options are those named ``TDE``,
``TDE_HSM`` and ``TIMEZONE`` (``TDE`` and ``TIMEZONE`` also permanent): the lab's choice of AWS's list. Refusals
answer ``InvalidParameterCombination`` (``OptionGroupNotFoundFault`` for a group the destination lacks).
"""

from __future__ import annotations

import importlib
from typing import Any

PERSISTENT = frozenset({"TDE", "TDE_HSM", "TIMEZONE"})
PERMANENT = frozenset({"TDE", "TIMEZONE"})
_applied = False


def _models() -> Any:
    return importlib.import_module("moto.rds.models")


def default_group(engine: str, version: str) -> str:
    """AWS's default option group of an engine version (as moto names it for instances)."""
    parts = version.split(".")
    suffix = parts[0] + (f"-{parts[1]}" if len(parts) > 1 else "")
    return f"default:{engine}-{suffix}"


def _group(account: str, region: str, name: str | None) -> Any:
    if not name:
        return None
    return _models().rds_backends[account][region].option_groups.get(name)


def persistent_options(account: str, region: str, name: str | None) -> list[str]:
    group = _group(account, region, name)
    return sorted(n for n in getattr(group, "_options", {}) if n.upper() in PERSISTENT)


def _region_of(identifier: str, default: str) -> tuple[str | None, str]:
    parts = identifier.split(":")
    if identifier.startswith("arn:") and len(parts) >= 7:
        return parts[4], parts[3]
    return None, default


def apply() -> None:
    global _applied
    if _applied:
        return
    models = _models()
    exceptions: Any = importlib.import_module("moto.rds.exceptions")
    combination = exceptions.InvalidParameterCombination
    not_found = exceptions.OptionGroupNotFoundFaultError
    backend_cls = models.RDSBackend

    # -- options report Persistent / Permanent ---------------------------------------------------------------
    def options(self: Any) -> list[dict[str, Any]]:
        return [
            {
                "OptionName": name,
                "Persistent": name.upper() in PERSISTENT,
                "Permanent": name.upper() in PERMANENT,
                "OptionSettings": [{"Name": s.get("Name"), "Value": s.get("Value")} for s in settings],
            }
            for name, settings in self._options.items()
        ]

    models.OptionGroup.options = property(options)

    # -- a snapshot records its instance's option group --------------------------------------------------------
    snapshot_init = models.DBSnapshot.__init__

    def db_snapshot_init(self: Any, backend: Any, database: Any, *args: Any, **kwargs: Any) -> None:
        snapshot_init(self, backend, database, *args, **kwargs)
        self.option_group_name = getattr(database, "option_group_name", None)

    models.DBSnapshot.__init__ = db_snapshot_init

    def check_carries(account: str, region: str, target: str, source_account: str, source_region: str,
                      source_group: str | None) -> None:  # fmt: skip
        missing = sorted(
            set(persistent_options(source_account, source_region, source_group))
            - {n.upper() for n in getattr(_group(account, region, target), "_options", {})}
        )
        if missing:
            raise combination(
                f"The option group {target} is missing the persistent or permanent options of the snapshot's "
                f"option group {source_group}: {', '.join(missing)}"
            )

    # -- CopyDBSnapshot: OptionGroupName across regions ---------------------------------------------------------
    copy = backend_cls.copy_db_snapshot

    def copy_db_snapshot(self: Any, **kwargs: Any) -> Any:
        source_id = str(kwargs.get("source_db_snapshot_identifier") or "")
        target_group = kwargs.get("option_group_name")
        owner, region = _region_of(source_id, self.region_name)
        owner = owner or self.account_id
        source = self.get_db_snapshot(source_id)
        source_group = getattr(source, "option_group_name", None)
        remote = region != self.region_name
        if target_group:
            group = _group(self.account_id, self.region_name, target_group)
            if group is None:
                raise not_found(target_group)
            if group.engine_name != source.engine:
                raise combination(
                    f"The option group {target_group} is for {group.engine_name}, the snapshot is {source.engine}"
                )
            check_carries(self.account_id, self.region_name, target_group, owner, region, source_group)
        elif remote:
            required = persistent_options(owner, region, source_group)
            if required:
                raise combination(
                    f"The snapshot requires a target option group with the following options: {', '.join(required)}"
                )
        made = copy(self, **kwargs)
        if target_group:
            made.option_group_name = _group(self.account_id, self.region_name, target_group).name
        elif remote:
            made.option_group_name = default_group(source.engine, source.engine_version)
        return made

    backend_cls.copy_db_snapshot = copy_db_snapshot

    # -- RestoreDBInstanceFromDBSnapshot: the snapshot's group by default; another must carry its options -----
    restore = backend_cls.restore_db_instance_from_db_snapshot

    def restore_db_instance(self: Any, from_snapshot_id: str, overrides: dict[str, Any]) -> Any:
        snapshot = self.describe_db_snapshots(db_instance_identifier=None, db_snapshot_identifier=from_snapshot_id)[0]
        snapshot_group = getattr(snapshot, "option_group_name", None)
        owner, region = _region_of(snapshot.arn, self.region_name)
        named = overrides.get("option_group_name")
        if named:
            check_carries(self.account_id, self.region_name, named, owner or self.account_id, region, snapshot_group)
        elif snapshot_group and _group(self.account_id, self.region_name, snapshot_group) is not None:
            overrides = {**overrides, "option_group_name": snapshot_group}
        return restore(self, from_snapshot_id, overrides)

    backend_cls.restore_db_instance_from_db_snapshot = restore_db_instance
    _applied = True
