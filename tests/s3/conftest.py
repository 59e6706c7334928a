"""S3 fixtures: the lab, a local library, a raw S3 client for scaffolding, and job helpers with tunable sizes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog
from skyvault.config import LibraryConfig, SkyvaultConfig, save_config
from skyvault.engine.runner import JobRunner
from skyvault.jobs.spec import JobSpec
from skyvault.library.backends.local import LocalBackend
from skyvault.library.crypto import ScryptParams
from skyvault.library.repository import Repository
from skyvault.services.contract import JobEnvironment
from skyvault.services.s3 import jobs

PASSPHRASE = "s3 tests passphrase"
REGION = "us-east-1"


@dataclass
class S3Env:
    env: LabEnv
    setup: ClientFactory  # scaffolding (not skyvault's calls)
    library_path: Path
    _catalog: Catalog | None = None

    @property
    def s3(self) -> Any:
        return self.setup.client("admin", REGION, "s3").raw

    def repo(self) -> Repository:
        return Repository.open(LocalBackend(self.library_path), passphrase=PASSPHRASE)

    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog.open(self.env.state_dir)
        return self._catalog

    def runner(self) -> JobRunner:
        environment = JobEnvironment(self.catalog(), self.env.factory(), open_library=lambda _name: self.repo())
        return JobRunner(environment)

    def backup(
        self, *locations: str, versions: bool = False, tuning: dict[str, int] | None = None
    ) -> list[dict[str, Any]]:
        params = jobs.backup_params(locations=list(locations), account="admin", region=REGION, library="main",
                                    versions=versions, tuning=tuning)  # fmt: skip
        result: list[dict[str, Any]] = self.runner().run(JobSpec(jobs.BACKUP_JOB, params))
        return result

    def restore(self, point: str, *, yes: bool = False, tuning: dict[str, int] | None = None, **options: Any) -> Any:
        params = {"recovery_point": point, "target": "new", "confirmed": yes, "options": options,
                  "tuning": tuning or {}}  # fmt: skip
        return self.runner().run(JobSpec(jobs.RESTORE_JOB, params))

    def bucket(self, name: str, *, versioning: bool = False, lock: bool = False) -> str:
        self.s3.create_bucket(Bucket=name, **({"ObjectLockEnabledForBucket": True} if lock else {}))
        if versioning:
            self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
        """Every current object under ``prefix``: bytes and what GetObject/GetObjectTagging say about it."""
        found = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                got = self.s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
                tags = self.s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
                found[key] = {
                    "body": got["Body"].read(),
                    "tags": {t["Key"]: t["Value"] for t in tags},
                    "storage_class": obj.get("StorageClass"),
                    **{
                        name: got.get(name)
                        for name in (
                            "ContentType",
                            "ContentEncoding",
                            "ContentDisposition",
                            "ContentLanguage",
                            "CacheControl",
                            "ExpiresString",
                            "Metadata",
                            "ChecksumSHA256",
                        )
                    },
                }
        return found


def add_library(env: LabEnv, path: Path) -> None:
    Repository.init(LocalBackend(path), passphrase=PASSPHRASE, scrypt=ScryptParams(n=2**10, r=8, p=1)).close()
    config = env.config.model_copy(
        update={"libraries": {"main": LibraryConfig(kind="local", path=str(path))}, "default_library": "main"}
    )
    config = SkyvaultConfig.model_validate(config.model_dump())
    save_config(config, env.config_path)
    env.config = config


@pytest.fixture
def s3_env(lab_env: LabEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", PASSPHRASE)
    library = tmp_path / "library"
    add_library(lab_env, library)
    setup = ClientFactory(lab_env.config, base_dir=lab_env.config_path.parent, strict_guard=False)
    return S3Env(lab_env, setup, library)
