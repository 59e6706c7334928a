"""S3 into the library and back, in the lab: object-by-object equality, versions, incremental, archives, safety."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any

import pytest

from conftest import CliResult
from skyvault.errors import ConfirmationRequiredError
from skyvault.lab import control
from skyvault.library.trees import TreeEntry, TreeReader

from .conftest import S3Env

pytestmark = pytest.mark.lab

SMALL = {"large_object": 64 * 1024, "part_size": 48 * 1024}  # ranged reads for anything over 64 KiB


def _blob(n: int, seed: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


def _entries(s3env: S3Env, snapshot: str) -> list[TreeEntry]:
    repo = s3env.repo()
    try:
        return list(TreeReader(repo, repo.load_snapshot(snapshot)).entries())
    finally:
        repo.close()


def _fill(s3env: S3Env, bucket: str) -> None:
    s3 = s3env.s3
    s3.put_object(
        Bucket=bucket, Key="docs/a.txt", Body=b"hello world", ContentType="text/plain; charset=utf-8",
        ContentEncoding="identity", ContentDisposition='attachment; filename="a.txt"', ContentLanguage="en",
        CacheControl="max-age=60", Expires=dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        Metadata={"owner": "alice", "n": "1"}, Tagging="team=web&tier=gold", ChecksumAlgorithm="SHA256",
    )  # fmt: skip
    s3.put_object(Bucket=bucket, Key="docs/b/c.json", Body=b'{"x": 1}', ContentType="application/json",
                  StorageClass="STANDARD_IA")  # fmt: skip
    s3.put_object(Bucket=bucket, Key="docs/empty", Body=b"")
    s3.put_object(Bucket=bucket, Key="img/large.bin", Body=_blob(300 * 1024, 1), Tagging="kind=big")
    for n in range(20):
        s3.put_object(Bucket=bucket, Key=f"many/{n:03d}", Body=_blob(100 + n * 37, n + 10))
    s3.put_object(Bucket=bucket, Key="ünïcode/ключ ✓", Body=b"unicode key")


def test_round_trip_object_by_object(s3_env: S3Env) -> None:
    source = s3_env.bucket("src-bucket")
    _fill(s3_env, source)
    [result] = s3_env.backup(source, tuning=SMALL)
    stats = result["stats"]
    assert stats["objects"] == 25 and stats["fetched"] == 25 and stats["skipped"] == 0
    assert stats["api_calls"]["ListObjectsV2"] == 1
    # The large object was read in ranges (HeadObject, then ranged GETs of 48 KiB: 7 of them).
    assert stats["api_calls"]["HeadObject"] == 1 and stats["api_calls"]["GetObject"] == 24 + 7

    target = s3_env.bucket("dst-bucket")
    restored = s3_env.restore(result["recovery_point"], bucket=target)
    assert restored["stats"]["objects"] == 25
    original, copy = s3_env.objects(source), s3_env.objects(target)
    for key in original:
        assert {n: v for n, v in copy[key].items() if n != "body"} == {
            n: v for n, v in original[key].items() if n != "body"
        }, key
    assert copy == original
    assert copy["docs/a.txt"]["tags"] == {"team": "web", "tier": "gold"}
    assert copy["docs/a.txt"]["Metadata"] == {"owner": "alice", "n": "1"}
    assert copy["docs/a.txt"]["ChecksumSHA256"] == original["docs/a.txt"]["ChecksumSHA256"] is not None
    assert copy["docs/b/c.json"]["storage_class"] == "STANDARD_IA"

    entries = _entries(s3_env, stats["library_snapshot"])  # one entry per object, in key order, with its metadata
    assert [e.key for e in entries] == sorted(original)
    first = entries[0].meta
    assert first["content_type"] == "text/plain; charset=utf-8" and first["tags"] == {"team": "web", "tier": "gold"}
    assert first["checksum"]["algorithm"] == "SHA256" and first["expires"].startswith("Thu, 02 Jan 2031")


def test_unchanged_bucket_costs_one_listing(s3_env: S3Env) -> None:
    source = s3_env.bucket("inc-bucket")
    _fill(s3_env, source)
    [first] = s3_env.backup(source, tuning=SMALL)
    [second] = s3_env.backup(source, tuning=SMALL)
    calls = second["stats"]["api_calls"]
    assert calls.get("GetObject", 0) == 0 and calls.get("HeadObject", 0) == 0 and calls.get("GetObjectTagging", 0) == 0
    assert calls["ListObjectsV2"] == 1
    assert second["stats"]["reused"] == 25 and second["stats"]["new_bytes"] == 0
    # One object changes: only it is read again; the restore of the new point has every object.
    s3_env.s3.put_object(Bucket=source, Key="many/007", Body=b"changed")
    [third] = s3_env.backup(source, tuning=SMALL)
    assert third["stats"]["fetched"] == 1 and third["stats"]["reused"] == 24
    assert third["stats"]["api_calls"]["GetObject"] == 1
    target = s3_env.bucket("inc-restored")
    s3_env.restore(third["recovery_point"], bucket=target)
    assert s3_env.objects(target) == s3_env.objects(source)
    assert first["recovery_point"] != second["recovery_point"]


def test_versions_and_delete_markers(s3_env: S3Env) -> None:
    s3 = s3_env.s3
    source = s3_env.bucket("ver-bucket")
    s3.put_object(Bucket=source, Key="k", Body=b"v1", Metadata={"rev": "1"})  # before versioning: version "null"
    s3.put_bucket_versioning(Bucket=source, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=source, Key="gone", Body=b"was here")
    time.sleep(1.1)  # S3 times are in seconds: the as-of point lies strictly between the versions
    between = dt.datetime.now(dt.UTC).replace(microsecond=0)
    time.sleep(1.1)
    s3.put_object(Bucket=source, Key="k", Body=b"v2", Metadata={"rev": "2"}, Tagging="rev=2")
    s3.delete_object(Bucket=source, Key="gone")
    s3.put_object(Bucket=source, Key="k/after", Body=b"sorted after k's versions")
    [result] = s3_env.backup(source, versions=True)
    stats = result["stats"]
    assert stats["objects"] == 4 and stats["delete_markers"] == 1
    entries = _entries(s3_env, stats["library_snapshot"])
    assert [e.key for e in entries] == ["gone\x000000000000", "gone\x000000000001", "k\x000000000000",
                                        "k\x000000000001", "k/after\x000000000000"]  # fmt: skip
    assert entries[1].meta["delete_marker"] is True and entries[1].meta["is_latest"] is True
    versions = {v["VersionId"] for v in s3.list_object_versions(Bucket=source)["Versions"]}
    assert {e.meta["version_id"] for e in entries if not e.meta.get("delete_marker")} == versions
    assert entries[3].meta["tags"] == {"rev": "2"}

    latest = s3_env.bucket("ver-latest")
    s3_env.restore(result["recovery_point"], bucket=latest)
    assert {k: v["body"] for k, v in s3_env.objects(latest).items()} == {
        "k": b"v2",
        "k/after": b"sorted after k's versions",
    }

    earlier = s3_env.bucket("ver-as-of")
    restored = s3_env.restore(result["recovery_point"], bucket=earlier, as_of=between.isoformat())
    assert restored["recovery_point"] == result["recovery_point"]
    found = s3_env.objects(earlier)
    assert {k: v["body"] for k, v in found.items()} == {"k": b"v1", "gone": b"was here"}
    assert found["k"]["Metadata"] == {"rev": "1"}

    # An unchanged versioned bucket: one listing, every version reused.
    [again] = s3_env.backup(source, versions=True)
    assert again["stats"]["api_calls"].get("GetObject", 0) == 0 and again["stats"]["reused"] == 4


def test_as_of_picks_the_point_of_that_time(s3_env: S3Env) -> None:
    source = s3_env.bucket("asof-bucket")
    s3_env.s3.put_object(Bucket=source, Key="f", Body=b"first")
    [first] = s3_env.backup(source)
    time.sleep(1.1)
    between = dt.datetime.now(dt.UTC)
    time.sleep(1.1)
    s3_env.s3.put_object(Bucket=source, Key="f", Body=b"second")
    [second] = s3_env.backup(source)
    target = s3_env.bucket("asof-target")
    restored = s3_env.restore(second["recovery_point"], bucket=target, as_of=between.isoformat())
    assert restored["recovery_point"] == first["recovery_point"]
    assert s3_env.objects(target)["f"]["body"] == b"first"


def test_archived_objects_are_reported_and_skipped(s3_env: S3Env) -> None:
    s3 = s3_env.s3
    source = s3_env.bucket("cold-bucket")
    s3.put_object(Bucket=source, Key="cold/glacier", Body=b"g", StorageClass="GLACIER")
    s3.put_object(Bucket=source, Key="cold/deep", Body=b"d", StorageClass="DEEP_ARCHIVE")
    s3.put_object(Bucket=source, Key="cold/thawed", Body=b"t", StorageClass="GLACIER")
    s3.restore_object(Bucket=source, Key="cold/thawed", RestoreRequest={"Days": 1})
    s3.put_object(Bucket=source, Key="cold/instant", Body=b"i", StorageClass="GLACIER_IR")
    [result] = s3_env.backup(source)
    stats = result["stats"]
    assert stats["objects"] == 2 and stats["skipped"] == 2
    skipped = {s["key"]: s for s in stats["skipped_objects"]}
    assert set(skipped) == {"cold/glacier", "cold/deep"}
    assert skipped["cold/deep"]["storage_class"] == "DEEP_ARCHIVE" and "not restored" in skipped["cold/deep"]["reason"]
    point = s3_env.catalog().recovery_point(result["recovery_point"])
    assert point.stats["skipped"] == 2 and len(point.stats["skipped_objects"]) == 2
    keys = [e.key for e in _entries(s3_env, stats["library_snapshot"])]
    assert keys == ["cold/instant", "cold/thawed"]


def test_intelligent_tiering_archive_tiers_are_skipped_until_restored(s3_env: S3Env) -> None:
    s3 = s3_env.s3
    source = s3_env.bucket("tier-bucket")
    for key in ("it/cold-big", "it/cold-small", "it/warm"):
        body = _blob(200 * 1024, 5) if key.endswith("big") else key.encode()
        s3.put_object(Bucket=source, Key=key, Body=body, StorageClass="INTELLIGENT_TIERING")
    control.set_model_settings(s3_env.env.lab, "s3_archive_tiers", bucket=source, key="it/cold-big",
                               tier="DEEP_ARCHIVE_ACCESS")  # fmt: skip
    control.set_model_settings(s3_env.env.lab, "s3_archive_tiers", bucket=source, key="it/cold-small")
    assert s3.head_object(Bucket=source, Key="it/cold-small")["ArchiveStatus"] == "ARCHIVE_ACCESS"
    [first] = s3_env.backup(source, tuning=SMALL)
    skipped = {s["key"]: s["reason"] for s in first["stats"]["skipped_objects"]}
    assert first["stats"]["objects"] == 1 and set(skipped) == {"it/cold-big", "it/cold-small"}
    assert "DEEP_ARCHIVE_ACCESS" in skipped["it/cold-big"] and "archive access tier" in skipped["it/cold-small"]
    for key in skipped:
        s3.restore_object(Bucket=source, Key=key, RestoreRequest={})
    [second] = s3_env.backup(source, tuning=SMALL)
    assert second["stats"]["objects"] == 3 and second["stats"]["skipped"] == 0 and second["stats"]["reused"] == 1


def test_overwrite_is_refused_before_anything_is_written(s3_env: S3Env, cli: Any) -> None:
    source = s3_env.bucket("ow-bucket")
    _fill(s3_env, source)
    [result] = s3_env.backup(source, tuning=SMALL)
    point = result["recovery_point"]
    s3_env.s3.put_object(Bucket=source, Key="docs/a.txt", Body=b"edited since")
    s3_env.s3.delete_object(Bucket=source, Key="many/000")
    with pytest.raises(ConfirmationRequiredError, match="24 object"):
        s3_env.restore(point)
    assert s3_env.s3.get_object(Bucket=source, Key="docs/a.txt")["Body"].read() == b"edited since"
    assert "Contents" not in s3_env.s3.list_objects_v2(Bucket=source, Prefix="many/000")
    refused: CliResult = cli("restore", point, "--overwrite")
    assert refused.exit_code == ConfirmationRequiredError.exit_code and "--yes" in refused.stderr
    done: CliResult = cli("--json", "restore", point, "--overwrite", "--yes")
    assert done.exit_code == 0, done.stderr
    assert s3_env.s3.get_object(Bucket=source, Key="docs/a.txt")["Body"].read() == b"hello world"
    assert s3_env.s3.get_object(Bucket=source, Key="many/000")["Body"].read() == _blob(100, 10)


def test_prefix_backup_and_restore_elsewhere(s3_env: S3Env, cli: Any) -> None:
    source = s3_env.bucket("pfx-bucket")
    _fill(s3_env, source)
    backed: CliResult = cli("--json", "backup", "s3", f"{source}/docs/")
    assert backed.exit_code == 0, backed.stderr
    point = backed.json()["recovery_point"]
    assert backed.json()["stats"]["objects"] == 3
    target = s3_env.bucket("pfx-target")
    done: CliResult = cli("--json", "restore", point, "--bucket", target, "--prefix", "copy/")
    assert done.exit_code == 0, done.stderr
    restored = s3_env.objects(target)
    assert sorted(restored) == ["copy/a.txt", "copy/b/c.json", "copy/empty"]
    original = s3_env.objects(source, "docs/")
    assert all(restored["copy/" + k.removeprefix("docs/")] == v for k, v in original.items())


def test_large_object_goes_up_in_parts(s3_env: S3Env) -> None:
    source = s3_env.bucket("mp-bucket")
    data = _blob(11 * 1024 * 1024, 7)
    s3_env.s3.put_object(Bucket=source, Key="big", Body=data, ContentType="application/x-big", Tagging="a=b")
    [result] = s3_env.backup(source, tuning={"large_object": 4 * 1024 * 1024, "part_size": 4 * 1024 * 1024})
    target = s3_env.bucket("mp-target")
    tuning = {"multipart_threshold": 6 * 1024 * 1024, "part_size": 5 * 1024 * 1024}
    s3_env.restore(result["recovery_point"], bucket=target, tuning=tuning)
    head = s3_env.s3.head_object(Bucket=target, Key="big")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 1 MiB
    assert s3_env.objects(target)["big"] == s3_env.objects(source)["big"]


def test_object_lock_settings_round_trip(s3_env: S3Env) -> None:
    s3 = s3_env.s3
    source = s3_env.bucket("lock-source", lock=True)
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    s3.put_object(Bucket=source, Key="held", Body=b"evidence", ObjectLockMode="GOVERNANCE",
                  ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")  # fmt: skip
    s3.put_object(Bucket=source, Key="free", Body=b"no lock")
    [result] = s3_env.backup(source)
    entries = {e.key: e.meta for e in _entries(s3_env, result["stats"]["library_snapshot"])}
    assert entries["held"]["object_lock"] == {
        "mode": "GOVERNANCE", "retain_until": until.strftime("%Y-%m-%dT%H:%M:%SZ"), "legal_hold": "ON"
    }  # fmt: skip
    assert "object_lock" not in entries["free"]
    locked = s3_env.bucket("lock-target", lock=True)
    restored = s3_env.restore(result["recovery_point"], bucket=locked)
    assert restored["stats"]["object_lock_applied"] is True
    head = s3.head_object(Bucket=locked, Key="held")
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockLegalHoldStatus"] == "ON"
    assert head["ObjectLockRetainUntilDate"] == until
    plain = s3_env.bucket("lock-plain")  # no Object Lock there: the objects are restored without it
    assert s3_env.restore(result["recovery_point"], bucket=plain)["stats"]["object_lock_applied"] is False
    assert "ObjectLockMode" not in s3.head_object(Bucket=plain, Key="held")
