"""Fidelity models the lab applies to moto inside its own server process, before it serves.

Each entry names a module exposing ``apply() -> None`` (patch moto's backends; idempotent) and optionally
``reset() -> None`` (drop the model's own state when the lab is reset). Modules are imported only in the lab
process: importing skyvault never imports moto. Each model documents what real AWS does (see docs/lab.md) and has
a test that fails when a moto upgrade breaks it (moto is pinned).
"""

from __future__ import annotations

MODELS: list[str] = [
    # one line per model module; append yours, keep others' lines untouched
    "skyvault.lab.models.docdb",
    "skyvault.lab.models.db_snapshot_sharing",
    "skyvault.lab.models.redshift",
    "skyvault.lab.models.db_restore_placement",
    "skyvault.lab.models.sts_external_id",
    "skyvault.lab.models.iam_simulate",
    "skyvault.lab.models.iam_unknown_resource",
    "skyvault.lab.models.iam_signature_query",
    "skyvault.lab.models.s3_iam_actions",
    "skyvault.lab.models.tag_on_create",
    "skyvault.lab.models.ebs_blocks",
    "skyvault.lab.models.images",
    "skyvault.lab.models.iam",
    "skyvault.lab.models.db_rename",
    "skyvault.lab.models.db_identifiers",
    "skyvault.lab.models.db_tag_limit",
    "skyvault.lab.models.db_gp3",
    "skyvault.lab.models.ec2_consistency",
    "skyvault.lab.models.ebs_write_readiness",
    "skyvault.lab.models.sts_session_duration",
    "skyvault.lab.models.db_option_groups",
    "skyvault.lab.models.image_attributes",
    "skyvault.lab.models.ebs_limits",  # after ebs_blocks and ebs_write_readiness: it wraps their handlers
    "skyvault.lab.models.s3_checksums",
    "skyvault.lab.models.s3_archive_tiers",
    "skyvault.lab.models.dynamodb_scan",
    "skyvault.lab.models.dynamodb_item_writes",  # wraps moto's Table methods (the scan model's too, if it patched them)
    "skyvault.lab.models.s3_null_version",
    "skyvault.lab.models.s3_outposts",  # after s3_iam_actions: it wraps S3's authorisation again
    "skyvault.lab.models.request_latency",
    "skyvault.lab.models.dynamodb_export",  # after dynamodb_scan: moto's export and import replaced
    "skyvault.lab.models.vm_import",  # after ebs_blocks and images: it writes snapshots and registers AMIs
    "skyvault.lab.models.dynamodb_batch_writes",  # after dynamodb_scan, dynamodb_item_writes: their buckets, locks
    "skyvault.lab.models.s3_listing",
    "skyvault.lab.models.serializer_timestamps",
]
