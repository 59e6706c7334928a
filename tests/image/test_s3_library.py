"""Libraries on S3 in the lab (Object Lock, STS role) and a master key wrapped by KMS."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab

Cli = Callable[..., Any]


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result.json()


def admin_client(lab_env: Any, service: str) -> Any:
    """A plain boto3 client with the lab admin's credentials, for test setup only."""
    factory = lab_env.factory()
    region = lab_env.config.account("admin").regions[0]
    return factory.session("admin").client(service, endpoint_url=lab_env.lab.endpoint, region_name=region)


def backup_and_restore(cli: Cli, tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    data = os.urandom(700_000) + bytes(1_000_000) + b"abc" * 100_000
    image.write_bytes(data)
    point = ok(cli("--json", "backup", "image", str(image)))["recovery_point"]
    out = tmp_path / "out.img"
    ok(cli("--json", "restore", point, "--to-file", str(out)))
    assert out.read_bytes() == data
    assert ok(cli("--json", "library", "check", "--read-data"))["ok"] is True


def test_s3_library_with_object_lock(lab_env: Any, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "s3 secret")
    s3 = admin_client(lab_env, "s3")
    bucket = f"vault-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    created = ok(
        cli(
            "--json",
            "library",
            "init",
            "--s3",
            f"s3://{bucket}/team/lib",
            "--account",
            "admin",
            "--object-lock-days",
            "1",
        )
    )
    assert created["location"] == f"s3://{bucket}/team/lib"
    backup_and_restore(cli, tmp_path)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    pack = next(k for k in keys if k.startswith("team/lib/data/"))
    assert s3.head_object(Bucket=bucket, Key=pack)["ObjectLockMode"] == "GOVERNANCE"
    assert not any(k.startswith("team/lib/locks/") for k in keys)  # released

    plain = f"plain-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=plain)
    result = cli(
        "library",
        "init",
        "--s3",
        f"s3://{plain}/lib",
        "--account",
        "admin",
        "--object-lock-days",
        "1",
        "--name",
        "second",
    )
    assert result.exit_code == 9 and "Object Lock" in result.stderr


def test_s3_library_through_an_sts_role(
    lab_env: Any, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "role secret")
    account_id = lab_env.factory().account_id("admin")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = admin_client(lab_env, "iam").create_role(
        RoleName="skyvault-library-writer", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    bucket = f"vault-{secrets.token_hex(4)}"
    admin_client(lab_env, "s3").create_bucket(Bucket=bucket)
    ok(cli("--json", "library", "init", "--s3", f"s3://{bucket}/lib", "--account", "admin", "--role-arn", role))
    backup_and_restore(cli, tmp_path)


def test_master_key_wrapped_by_kms(lab_env: Any, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKYVAULT_PASSPHRASE", raising=False)
    key_id = admin_client(lab_env, "kms").create_key(Description="skyvault library")["KeyMetadata"]["KeyId"]
    ok(cli("--json", "library", "init", "--path", str(tmp_path / "lib"), "--kms-key", key_id, "--account", "admin"))
    key_files = list((tmp_path / "lib" / "keys").iterdir())
    assert [json.loads(k.read_text())["kind"] for k in key_files] == ["kms"]
    backup_and_restore(cli, tmp_path)
