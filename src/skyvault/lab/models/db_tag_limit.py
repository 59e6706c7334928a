"""Lab model: at most 50 tags per RDS, Aurora, DocumentDB and Redshift resource.

What AWS does: RDS allows "up to 50 tags" per resource (RDS User Guide, "Tagging Amazon RDS resources",
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Tagging.html; DocumentDB shares RDS's tagging), and so
does Redshift ("Tagging overview", https://docs.aws.amazon.com/redshift/latest/mgmt/amazon-redshift-tagging.html;
``CreateTags`` answers ``TagLimitExceededFault``). The limit counts the tags a resource already has plus the ones a
request adds, on create (``Tags`` of CreateDBSnapshot, CopyDBSnapshot, RestoreDB..., CreateClusterSnapshot) as on
``AddTagsToResource`` / ``CreateTags``; a request over it changes nothing.

What moto 5.2.1 does: no limit.

What the lab does: refuses any RDS/DocumentDB resource or Redshift snapshot/cluster that would carry more than 50
tags, with ``TagQuotaPerResourceExceeded`` (RDS; its API reference names no code for this) or
``TagLimitExceededFault`` (Redshift).
"""

from __future__ import annotations

import importlib
from typing import Any

MAX_TAGS = 50
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    rds: Any = importlib.import_module("moto.rds.models")
    rds_errors: Any = importlib.import_module("moto.rds.exceptions")
    redshift: Any = importlib.import_module("moto.redshift.models")
    redshift_errors: Any = importlib.import_module("moto.redshift.exceptions")

    mixin = rds.TaggingMixin
    rds_tags: Any = mixin.__dict__["tags"]

    def set_rds_tags(self: Any, value: list[dict[str, str]] | None) -> None:
        if value is not None and len({tag["Key"] for tag in value}) > MAX_TAGS:
            raise rds_errors.RDSClientError(
                "TagQuotaPerResourceExceeded", f"A resource can have at most {MAX_TAGS} tags ({len(value)} given)."
            )
        rds_tags.fset(self, value)

    mixin.tags = property(rds_tags.fget, set_rds_tags)

    def too_many(count: int) -> Any:
        return redshift_errors.RedshiftClientError(
            "TagLimitExceededFault", f"You have exceeded the number of tags allowed ({count} > {MAX_TAGS})."
        )

    taggable = redshift.TaggableResourceMixin
    create_tags = taggable.create_tags

    def create_redshift_tags(self: Any, tags: list[dict[str, str]]) -> Any:
        keys = {tag["Key"] for tag in self.tags} | {tag["Key"] for tag in tags}
        if len(keys) > MAX_TAGS:
            raise too_many(len(keys))
        return create_tags(self, tags)

    taggable.create_tags = create_redshift_tags
    snapshot_init = redshift.Snapshot.__init__

    def init_snapshot(self: Any, *args: Any, **kwargs: Any) -> None:
        snapshot_init(self, *args, **kwargs)
        if len(self.tags) > MAX_TAGS:
            raise too_many(len(self.tags))

    redshift.Snapshot.__init__ = init_snapshot
    _applied = True
