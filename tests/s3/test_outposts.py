"""S3 on Outposts in the lab: backups through an access point ARN and restores to another access point or a
bucket, over the HTTPS endpoint botocore builds for the ARN (the lab's proxy and CA, as docs/lab.md says).

skyvault's code is the same as for a bucket: only the environment differs (``HTTPS_PROXY``, ``AWS_CA_BUNDLE``),
as it would behind a corporate proxy on AWS."""

from __future__ import annotations

from typing import Any

import pytest

from skyvault.lab import control

from .conftest import REGION, S3Env
from .test_backup_restore import SMALL, _blob

pytestmark = pytest.mark.lab

OUTPOST = "op-0123456789abcdef0"


@pytest.fixture
def outposts(s3_env: S3Env, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    lab = s3_env.env.lab
    assert lab.https_proxy and lab.ca_bundle, "the lab records its HTTPS proxy and CA"
    monkeypatch.setenv("HTTPS_PROXY", lab.https_proxy)
    monkeypatch.setenv("AWS_CA_BUNDLE", lab.ca_bundle)
    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    return s3_env


def _access_point(env: S3Env, bucket: str, name: str) -> str:
    return control.create_outposts_bucket(env.env.lab, OUTPOST, bucket, name, region=REGION)


def _fill(env: S3Env, arn: str) -> None:
    s3 = env.s3
    s3.put_object(Bucket=arn, Key="logs/a.txt", Body=b"outposts hello", ContentType="text/plain",
                  Metadata={"site": "factory-7"}, Tagging="team=ops", StorageClass="OUTPOSTS")  # fmt: skip
    s3.put_object(Bucket=arn, Key="logs/big.bin", Body=_blob(200 * 1024, 3), StorageClass="OUTPOSTS")
    for n in range(5):
        s3.put_object(Bucket=arn, Key=f"many/{n}", Body=_blob(50 + n, n), StorageClass="OUTPOSTS")


def test_requests_through_an_access_point_go_over_https_and_follow_outposts_rules(outposts: S3Env) -> None:
    arn = _access_point(outposts, "plant-data", "backups")
    s3 = outposts.s3
    seen: list[str] = []
    s3.meta.events.register("before-send.s3.*", lambda request, **_: seen.append(request.url))
    s3.put_object(Bucket=arn, Key="k", Body=b"v", StorageClass="OUTPOSTS")
    assert seen[-1].startswith(f"https://backups-{outposts.env.lab.admin_account_id}.{OUTPOST}.127.0.0.1:")
    listed = s3.list_objects_v2(Bucket=arn)
    assert [(o["Key"], o["StorageClass"]) for o in listed["Contents"]] == [("k", "OUTPOSTS")]
    with pytest.raises(Exception, match="InvalidStorageClass"):
        s3.put_object(Bucket=arn, Key="k2", Body=b"v", StorageClass="STANDARD_IA")
    with pytest.raises(Exception, match="NotImplemented"):
        s3.get_object_lock_configuration(Bucket=arn)


def test_backup_and_restore_through_access_points(outposts: S3Env) -> None:
    source = _access_point(outposts, "plant-data", "backups")
    _fill(outposts, source)
    [result] = outposts.backup(f"{source}/logs/", tuning=SMALL)
    assert result["stats"]["objects"] == 2

    [everything] = outposts.backup(source, tuning=SMALL)
    assert everything["stats"]["objects"] == 7
    target = _access_point(outposts, "plant-copy", "restores")
    restored = outposts.restore(everything["recovery_point"], bucket=target, tuning={"multipart_threshold": 64 * 1024})
    assert restored["stats"]["objects"] == 7
    original, copy = outposts.objects(source), outposts.objects(target)
    assert copy == original
    assert copy["logs/a.txt"]["tags"] == {"team": "ops"} and copy["logs/a.txt"]["Metadata"] == {"site": "factory-7"}
    assert {o["storage_class"] for o in copy.values()} == {"OUTPOSTS"}

    # Off the Outpost, into a regular bucket: the objects take the bucket's default class.
    plain = outposts.bucket("off-outpost")
    outposts.restore(everything["recovery_point"], bucket=plain)
    moved: dict[str, Any] = outposts.objects(plain)
    assert {k: v["body"] for k, v in moved.items()} == {k: v["body"] for k, v in original.items()}
    assert {v["storage_class"] for v in moved.values()} == {"STANDARD"}


def test_an_unknown_access_point_is_not_found(outposts: S3Env) -> None:
    missing = f"arn:aws:s3-outposts:{REGION}:{outposts.env.lab.admin_account_id}:outpost/{OUTPOST}/accesspoint/nope"
    with pytest.raises(Exception, match="NoSuchAccessPoint"):
        outposts.backup(missing)


def test_versions_of_a_bucket_never_versioned_are_its_null_versions(s3_env: S3Env) -> None:
    """AWS lists such objects with version ID ``null`` and serves ``versionId=null`` (the s3_null_version model)."""
    source = s3_env.bucket("never-versioned")
    s3_env.s3.put_object(Bucket=source, Key="big", Body=_blob(100 * 1024, 5))
    s3_env.s3.put_object(Bucket=source, Key="small", Body=b"x")
    [result] = s3_env.backup(source, versions=True, tuning=SMALL)
    assert result["stats"]["objects"] == 2 and result["stats"]["api_calls"]["HeadObject"] == 1


@pytest.mark.parametrize(
    "target",
    [
        "example.com:443",  # no open proxy
        f"backups-123456789012.{OUTPOST}.example.com:443",  # an access point host, not under the lab's authority
        "127.0.0.1:{port}",  # the lab's own port, but not an access point host
    ],
)
def test_the_lab_proxy_tunnels_only_its_own_access_point_hosts(s3_env: S3Env, target: str) -> None:
    import socket
    from urllib.parse import urlsplit

    lab = s3_env.env.lab
    proxy = urlsplit(lab.https_proxy)
    target = target.format(port=urlsplit(lab.endpoint).port)
    with socket.create_connection((proxy.hostname, proxy.port), timeout=10) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 403")
