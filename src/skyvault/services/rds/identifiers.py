"""Identifiers skyvault makes up for RDS, Aurora, DocumentDB and Redshift, within AWS's rules.

AWS's rules (RDS/DocumentDB/Redshift API references): letters, digits and hyphens only; the first character a
letter; no trailing hyphen and no two consecutive hyphens; at most 63 characters for DB instance, DB cluster
and Redshift cluster identifiers and for ``DBClusterSnapshotIdentifier`` (RDS, Aurora, DocumentDB), 255 for
``DBSnapshotIdentifier`` and Redshift's ``SnapshotIdentifier``. Redshift stores cluster identifiers lowercase.

Every name here is ``<head>-<tail>``: the tail carries what makes it unique (a recovery point's ID, a restore
suffix) and is kept whole; a head too long for the limit is shortened and ends in a short hash of the whole head,
so two long sources that share a prefix still get different names.
"""

from __future__ import annotations

import hashlib
import re

IDENTIFIER_MAX = 63  # DB instance/cluster identifiers, Redshift cluster identifiers
CLUSTER_SNAPSHOT_MAX = 63  # DBClusterSnapshotIdentifier (RDS, Aurora, DocumentDB)
DB_SNAPSHOT_MAX = 255  # DBSnapshotIdentifier
REDSHIFT_SNAPSHOT_MAX = 255  # Redshift SnapshotIdentifier
SHARE_SUFFIX = "-share"  # the re-encrypted intermediate of a vault copy: <snapshot>-share
_HASH = 6
_VALID = re.compile(r"^(?!.*--)[a-z](?:[a-z0-9-]*[a-z0-9])?$")


def clean(text: str) -> str:
    """Lowercase letters, digits and single hyphens, without hyphens at either end."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def is_valid(identifier: str, max_length: int) -> bool:
    return 0 < len(identifier) <= max_length and bool(_VALID.match(identifier))


def build(head: str, tail: str, max_length: int) -> str:
    """``<head>-<tail>`` within ``max_length`` and AWS's rules; ``tail`` is kept whole (it must be short)."""
    head, tail = clean(head), clean(tail)
    if not head or not head[0].isalpha():
        head = f"x-{head}".rstrip("-")
    room = max_length - len(tail) - 1
    if room < _HASH + 2:
        raise ValueError(f"{tail!r} leaves no room for a name within {max_length} characters")
    if len(head) > room:
        digest = hashlib.sha256(head.encode()).hexdigest()[:_HASH]
        head = f"{head[: room - _HASH - 1].rstrip('-')}-{digest}"
    name = f"{head}-{tail}" if tail else head
    if not is_valid(name, max_length):  # a bug here must not reach AWS as a half-made name
        raise ValueError(f"built an invalid identifier {name!r}")
    return name


def snapshot_name(prefix: str, source_id: str, point_id: str, max_length: int) -> str:
    """A snapshot of ``source_id`` for recovery point ``point_id``: ``<prefix><source>-<point suffix>``.

    Cluster snapshots keep room for ``SHARE_SUFFIX``, so the vault copy's intermediate fits too.
    """
    suffix = re.sub(r"[^a-zA-Z0-9]", "", point_id.split("-", 1)[-1])
    limit = max_length - len(SHARE_SUFFIX) if max_length == CLUSTER_SNAPSHOT_MAX else max_length
    return build(f"{prefix}{source_id}", suffix, limit)


def share_name(snapshot_id: str) -> str:
    return f"{snapshot_id}{SHARE_SUFFIX}"


def derived(identifier: str, tail: str) -> str:
    """A DB instance/cluster or Redshift cluster identifier made from another: ``<id>-pre-restore-<s>`` etc."""
    return build(identifier, tail, IDENTIFIER_MAX)
