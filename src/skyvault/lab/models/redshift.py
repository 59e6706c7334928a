"""Lab model: Redshift snapshot copy, sharing with other accounts, and cross-region snapshot copy.

What AWS does:
- ``CopyClusterSnapshot`` copies an *automated* snapshot to a new manual snapshot in the same region.
- ``AuthorizeSnapshotAccess`` / ``RevokeSnapshotAccess`` share a manual snapshot with another account (up to 20).
  The recipient sees it in ``DescribeClusterSnapshots`` (``OwnerAccount`` = the owner) and can **restore** from it
  (``RestoreFromClusterSnapshot`` with ``OwnerAccount`` or ``SnapshotArn``) but cannot copy it: Redshift has no
  cross-account copy. Snapshots report ``OwnerAccount``, ``AccountsWithRestoreAccess`` and ``KmsKeyId``.
- Cross-region copies are a cluster setting: ``EnableSnapshotCopy`` (for KMS-encrypted clusters with a
  snapshot copy grant that must exist in the destination region) makes Redshift copy every new snapshot of the
  cluster to the destination region, with the same identifier, ``SourceRegion`` set, encrypted with the grant's key.
  The copy is asynchronous: it starts when the source snapshot completes, and until then the destination answers
  ``ClusterSnapshotNotFound`` (Redshift Management Guide, "Copying snapshots to another AWS Region"). The lab keeps
  a copy invisible for ``COPY_POLLS`` DescribeClusterSnapshots calls in the destination region.
- A shared snapshot encrypted with the owner's customer-managed key can be restored only by an account that the
  key's policy lets use the key (Redshift Management Guide, "Sharing snapshots"); otherwise the restore fails.
- A restore names its cluster subnet group (``ClusterSubnetGroupName``, which must exist) or lands in the
  region's default VPC.
- A restored cluster keeps the snapshot's encryption key; ``Encrypted=True`` without ``KmsKeyId`` uses the
  account's AWS-managed key ``aws/redshift`` (keys behind ``aws/*`` aliases report ``KeyManager=AWS``).

What moto 5.2.1 does: no copy, no sharing (``OwnerAccount`` ignored), ``EnableSnapshotCopy`` only records the
setting (no copy, grant not checked), ``DescribeClusterSnapshots`` with a cluster that has no snapshots returns
every snapshot, restores drop the key. This model adds the missing behaviour.
"""

from __future__ import annotations

import importlib
import threading
from datetime import UTC, datetime
from typing import Any

MAX_SHARED_ACCOUNTS = 20
# Cross-region copies made by EnableSnapshotCopy stay invisible in the destination for this many
# DescribeClusterSnapshots calls there (AWS starts the copy when the source snapshot completes; it takes minutes).
COPY_POLLS = 1
_applied = False
_copies_lock = threading.Lock()


def _pending_copies(backend: Any) -> list[list[Any]]:
    pending: list[list[Any]] | None = getattr(backend, "_skyvault_pending_copies", None)
    if pending is None:
        pending = []
        backend._skyvault_pending_copies = pending
    return pending


def _arrive(backend: Any) -> None:
    """One DescribeClusterSnapshots in ``backend``'s region: pending copies come one call closer to arriving."""
    with _copies_lock:
        pending = _pending_copies(backend)
        for entry in list(pending):
            entry[1] -= 1
            if entry[1] < 0:
                pending.remove(entry)
                backend.snapshots[entry[0].snapshot_identifier] = entry[0]


def _shared_in_region(backend: Any) -> list[Any]:
    backends: Any = importlib.import_module("moto.redshift.models").redshift_backends
    found = []
    for account_id, regions in backends.items():
        if account_id == backend.account_id or backend.region_name not in regions:
            continue
        for snapshot in regions[backend.region_name].snapshots.values():
            if backend.account_id in getattr(snapshot, "shared_with", []):
                found.append(snapshot)
    return found


def _policy_allows(policy_json: str, account_id: str) -> bool:
    """Whether a key policy allows ``account_id`` to decrypt with the key (the part of IAM evaluation that matters
    here: an Allow statement naming the account, its root or ``*``, with kms:Decrypt, kms:CreateGrant or kms:*)."""
    import json

    try:
        policy = json.loads(policy_json)
    except ValueError:
        return False
    for statement in policy.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        principals = principal.get("AWS", []) if isinstance(principal, dict) else [principal]
        principals = [principals] if isinstance(principals, str) else principals
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        named = any(p == "*" or p == account_id or f":{account_id}:" in p for p in principals)
        if named and any(a in ("kms:*", "kms:Decrypt", "kms:CreateGrant") for a in actions):
            return True
    return False


def apply() -> None:
    global _applied
    if _applied:
        return
    # moto's internals are patched, not typed against: load them as Any.
    ActionResult: Any = importlib.import_module("moto.core.responses").ActionResult  # noqa: N806
    models: Any = importlib.import_module("moto.redshift.models")
    responses: Any = importlib.import_module("moto.redshift.responses")
    errors: Any = importlib.import_module("moto.redshift.exceptions")
    ClusterSnapshotAlreadyExistsError = errors.ClusterSnapshotAlreadyExistsError  # noqa: N806
    ClusterSnapshotNotFoundError = errors.ClusterSnapshotNotFoundError  # noqa: N806
    InvalidParameterValueError = errors.InvalidParameterValueError  # noqa: N806
    RedshiftClientError = errors.RedshiftClientError  # noqa: N806
    SnapshotCopyGrantNotFoundFaultError = errors.SnapshotCopyGrantNotFoundFaultError  # noqa: N806

    backend_cls = models.RedshiftBackend

    # -- encryption with the AWS-managed key (aws/redshift) when no key is given ------------------------------
    kms: Any = importlib.import_module("moto.kms.models")
    generate = kms.KmsBackend._generate_default_keys

    def generate_default_keys(self: Any, alias_name: str) -> Any:
        key_id = generate(self, alias_name)
        if key_id is not None:
            self.keys[key_id].key_manager = "AWS"  # keys behind reserved aws/* aliases are AWS-managed
        return key_id

    kms.KmsBackend._generate_default_keys = generate_default_keys
    cluster_init = models.Cluster.__init__

    def init_cluster(self: Any, redshift_backend: Any, *args: Any, **kwargs: Any) -> None:
        cluster_init(self, redshift_backend, *args, **kwargs)
        if self.encrypted and not self.kms_key_id:
            backend = kms.kms_backends[redshift_backend.account_id][redshift_backend.region_name]
            self.kms_key_id = backend.keys[backend.get_key_id_from_alias("alias/aws/redshift")].arn

    models.Cluster.__init__ = init_cluster
    response_cls = responses.RedshiftResponse

    # -- snapshot attributes AWS reports ---------------------------------------------------------------
    snapshot_init = models.Snapshot.__init__

    def init_snapshot(
        self: Any, cluster: Any, snapshot_identifier: str, account_id: str, *args: Any, **kw: Any
    ) -> None:
        snapshot_init(self, cluster, snapshot_identifier, account_id, *args, **kw)
        self.owner_account = account_id
        self.shared_with = []
        self.kms_key_id = getattr(cluster, "kms_key_id", None)
        self.source_region = None
        self.cluster_create_time = getattr(cluster, "create_time", None)

    models.Snapshot.__init__ = init_snapshot
    models.Snapshot.accounts_with_restore_access = property(
        lambda self: [{"AccountId": account} for account in self.shared_with]
    )

    # -- describe: own snapshots, plus those shared with this account ------------------------------------
    def describe(
        self: Any,
        cluster_identifier: str | None = None,
        snapshot_identifier: str | None = None,
        snapshot_type: str | None = None,
        owner_account: str | None = None,
        include_shared: bool = False,
    ) -> list[Any]:
        pinned = getattr(self, "_restoring", None)
        if pinned is not None and snapshot_identifier == pinned.snapshot_identifier:
            return [pinned]
        candidates = list(self.snapshots.values())
        if include_shared:
            candidates += _shared_in_region(self)
        types = ["automated", "manual"] if snapshot_type is None else [snapshot_type]
        found = [
            s
            for s in candidates
            if s.snapshot_type in types
            and (not cluster_identifier or s.cluster_identifier == cluster_identifier)
            and (not snapshot_identifier or s.snapshot_identifier == snapshot_identifier)
            and (not owner_account or s.owner_account == owner_account)
        ]
        if snapshot_identifier and not found:
            raise ClusterSnapshotNotFoundError(snapshot_identifier)
        return found

    backend_cls.describe_cluster_snapshots = describe

    def describe_response(self: Any) -> Any:
        _arrive(self.redshift_backend)
        snapshots = self.redshift_backend.describe_cluster_snapshots(
            self._get_param("ClusterIdentifier"),
            self._get_param("SnapshotIdentifier"),
            self._get_param("SnapshotType"),
            self._get_param("OwnerAccount"),
            include_shared=True,
        )
        return ActionResult({"Snapshots": snapshots})

    response_cls.describe_cluster_snapshots = describe_response

    def own_snapshot(backend: Any, identifier: str | None, arn: str | None) -> Any:
        name = arn.rsplit("/", 1)[-1] if arn else identifier
        snapshot = backend.snapshots.get(name or "")
        if snapshot is None:
            raise ClusterSnapshotNotFoundError(name or "")
        return snapshot

    # -- sharing ------------------------------------------------------------------------------------------
    def access(self: Any, grant: bool) -> Any:
        snapshot = own_snapshot(
            self.redshift_backend, self._get_param("SnapshotIdentifier"), self._get_param("SnapshotArn")
        )
        account = self._get_param("AccountWithRestoreAccess")
        if snapshot.snapshot_type != "manual":
            raise RedshiftClientError("InvalidClusterSnapshotState", "Only manual snapshots can be shared.")
        if grant:
            if account not in snapshot.shared_with:
                if len(snapshot.shared_with) >= MAX_SHARED_ACCOUNTS:
                    raise RedshiftClientError("AuthorizationQuotaExceeded", "The snapshot is shared with 20 accounts.")
                snapshot.shared_with.append(account)
        elif account in snapshot.shared_with:
            snapshot.shared_with.remove(account)
        else:
            raise RedshiftClientError("AuthorizationNotFound", f"Account {account} has no access to the snapshot.")
        return ActionResult({"Snapshot": snapshot})

    response_cls.authorize_snapshot_access = lambda self: access(self, True)
    response_cls.revoke_snapshot_access = lambda self: access(self, False)

    # -- copy (automated -> manual, same region) ----------------------------------------------------------
    def copy_cluster_snapshot(self: Any) -> Any:
        backend = self.redshift_backend
        source = own_snapshot(backend, self._get_param("SourceSnapshotIdentifier"), None)
        target_id = self._get_param("TargetSnapshotIdentifier")
        if source.snapshot_type != "automated":
            raise RedshiftClientError(
                "InvalidClusterSnapshotState", "The source snapshot must be an automated snapshot in available state."
            )
        if target_id in backend.snapshots:
            raise ClusterSnapshotAlreadyExistsError(target_id)
        copied = _clone(source, target_id, backend.account_id, backend.region_name)
        backend.snapshots[target_id] = copied
        return ActionResult({"Snapshot": copied})

    response_cls.copy_cluster_snapshot = copy_cluster_snapshot

    def _clone(source: Any, snapshot_id: str, account_id: str, region: str) -> Any:
        import copy

        clone = copy.copy(source)
        clone.snapshot_identifier = snapshot_id
        clone.snapshot_type = "manual"
        clone.account_id = account_id
        clone.region = region
        clone.owner_account = account_id
        clone.shared_with = []
        clone.tags = list(source.tags)
        clone.create_time = datetime.now(UTC)
        return clone

    # -- cross-region copy of new snapshots when EnableSnapshotCopy is on ---------------------------------
    enable = backend_cls.enable_snapshot_copy

    def enable_snapshot_copy(self: Any, **kwargs: Any) -> Any:
        grant_name = kwargs.get("snapshot_copy_grant_name")
        if grant_name:
            destination = models.redshift_backends[self.account_id][kwargs["destination_region"]]
            if grant_name not in destination.snapshot_copy_grants:
                raise SnapshotCopyGrantNotFoundFaultError(grant_name)
        return enable(self, **kwargs)

    backend_cls.enable_snapshot_copy = enable_snapshot_copy

    create_snapshot = backend_cls.create_cluster_snapshot

    def create_cluster_snapshot(
        self: Any, cluster_identifier: str, snapshot_identifier: str, *args: Any, **kw: Any
    ) -> Any:
        snapshot = create_snapshot(self, cluster_identifier, snapshot_identifier, *args, **kw)
        status = self.clusters[cluster_identifier].cluster_snapshot_copy_status
        if status and snapshot.snapshot_type == "manual":
            region = status["DestinationRegion"]
            destination = models.redshift_backends[self.account_id][region]
            copied = _clone(snapshot, snapshot_identifier, self.account_id, region)
            copied.source_region = self.region_name
            grant = destination.snapshot_copy_grants.get(status.get("SnapshotCopyGrantName") or "")
            if snapshot.encrypted:
                if grant is None:
                    raise InvalidParameterValueError("The snapshot copy grant no longer exists in the destination.")
                copied.kms_key_id = grant.kms_key_id
            # Asynchronous, like AWS: the copy shows up in the destination only after COPY_POLLS describe calls there.
            _pending_copies(destination).append([copied, COPY_POLLS])
        return snapshot

    backend_cls.create_cluster_snapshot = create_cluster_snapshot

    # -- restore: from a shared snapshot (OwnerAccount / SnapshotArn), keeping the key --------------------
    restore = backend_cls.restore_from_cluster_snapshot

    def restore_response(self: Any) -> Any:
        backend = self.redshift_backend
        arn = self._get_param("SnapshotArn")
        owner = self._get_param("OwnerAccount") or (arn.split(":")[4] if arn else None)
        identifier = self._get_param("SnapshotIdentifier") or (arn.rsplit("/", 1)[-1] if arn else None)
        snapshot = backend.describe_cluster_snapshots(
            snapshot_identifier=identifier, owner_account=owner or backend.account_id, include_shared=True
        )[0]
        subnet_group = self._get_param("ClusterSubnetGroupName")
        if subnet_group and subnet_group not in backend.subnet_groups:  # moto accepts any name
            raise errors.ClusterSubnetGroupNotFoundError(subnet_group)
        if snapshot.owner_account != backend.account_id and snapshot.kms_key_id:
            _require_key_use(snapshot.kms_key_id, snapshot.owner_account, backend)
        backend._restoring = snapshot  # moto's restore looks the identifier up again: pin the resolved snapshot
        self.params["SnapshotIdentifier"] = snapshot.snapshot_identifier
        backend._restore_tags = self._get_param("Tags", [])
        try:
            return restore_original_response(self)
        finally:
            backend._restoring = None

    def _require_key_use(key_id: str, owner: str, backend: Any) -> None:
        """A shared snapshot encrypted with the owner's customer-managed key restores only in an account that the
        key policy lets use the key."""
        region = key_id.split(":")[3] if key_id.startswith("arn:") else backend.region_name
        keys = kms.kms_backends[owner][region]
        try:
            key = keys.describe_key(key_id)
        except Exception:  # a key moto cannot find is left to moto's own behaviour
            return
        if not _policy_allows(str(key.policy or "{}"), backend.account_id):
            raise RedshiftClientError(
                "UnauthorizedOperation",
                f"Account {backend.account_id} cannot use KMS key {key.arn} of the shared snapshot: its key policy "
                "does not allow it (kms:Decrypt, kms:CreateGrant).",
            )

    restore_original_response = response_cls.restore_from_cluster_snapshot
    response_cls.restore_from_cluster_snapshot = restore_response

    def restore_backend(self: Any, **kwargs: Any) -> Any:
        cluster = restore(self, **kwargs)
        snapshot = getattr(self, "_restoring", None)
        if snapshot is not None:
            cluster.kms_key_id = snapshot.kms_key_id
            cluster.restored_from_snapshot = True
            # AWS tags the restored cluster with the request's tags, not the snapshot's.
            cluster.tags = list(getattr(self, "_restore_tags", []) or [])
        return cluster

    backend_cls.restore_from_cluster_snapshot = restore_backend
    _applied = True
