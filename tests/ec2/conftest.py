"""EC2 fixtures: a lab instance with a 1 GiB root and a 1 GiB data volume holding a few MiB, and a local library."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.aws.clients import ClientFactory
from skyvault.config import LibraryConfig, SkyvaultConfig, save_config
from skyvault.lab import control
from skyvault.library.backends.local import LocalBackend
from skyvault.library.crypto import ScryptParams
from skyvault.library.repository import Repository
from skyvault.services.ec2 import waiting

PASSPHRASE = "ec2 tests passphrase"
FAST_SCRYPT = ScryptParams(n=2**10, r=8, p=1)
ROOT_BLOCKS = 24  # 12 MiB written on the root volume
DATA_BLOCKS = 16


@dataclass
class Ec2Env:
    env: LabEnv
    factory: ClientFactory  # strict guard: skyvault's own calls
    setup: ClientFactory  # test scaffolding (guest, extra resources): not skyvault's calls
    instance_id: str
    root_volume: str
    data_volume: str
    library_path: Path

    @property
    def endpoint(self) -> str:
        return self.env.lab.endpoint

    def repo(self) -> Repository:
        return Repository.open(LocalBackend(self.library_path), passphrase=PASSPHRASE)

    def checksum(self, resource_id: str, *, account_id: str = "123456789012", region: str = "us-east-1") -> str:
        return control.checksum(self.env.lab, resource_id, account_id=account_id, region=region).sha256

    def ec2(self, account: str = "admin", region: str = "us-east-1") -> Any:
        return self.setup.client(account, region, "ec2")


def _image(ec2: Any) -> str:
    images = ec2.describe_images(Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}])["Images"]
    return str(sorted(images, key=lambda i: i["ImageId"])[0]["ImageId"])


def add_library(env: LabEnv, path: Path) -> SkyvaultConfig:
    Repository.init(LocalBackend(path), passphrase=PASSPHRASE, scrypt=FAST_SCRYPT).close()
    config = env.config.model_copy(
        update={"libraries": {"main": LibraryConfig(kind="local", path=str(path))}, "default_library": "main"}
    )
    config = SkyvaultConfig.model_validate(config.model_dump())
    save_config(config, env.config_path)
    env.config = config
    return config


@pytest.fixture
def ec2_env(lab_env: LabEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ec2Env:
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", PASSPHRASE)
    library = tmp_path / "library"
    add_library(lab_env, library)
    setup = ClientFactory(lab_env.config, base_dir=lab_env.config_path.parent, strict_guard=False)
    ec2 = setup.client("admin", "us-east-1", "ec2")
    instance = ec2.run_instances(
        ImageId=_image(ec2),
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        UserData="#!/bin/sh\necho hello\n",
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 1, "VolumeType": "gp3", "DeleteOnTermination": True}}
        ],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "app-1"}]}],
    )["Instances"][0]
    instance_id = instance["InstanceId"]
    root = next(m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"] if m["DeviceName"] == "/dev/xvda")
    zone = instance["Placement"]["AvailabilityZone"]
    data = ec2.create_volume(AvailabilityZone=zone, Size=1, VolumeType="gp3")["VolumeId"]
    ec2.attach_volume(VolumeId=data, InstanceId=instance_id, Device="/dev/sdf")
    control.write_blocks(lab_env.lab, root, ROOT_BLOCKS, seed=1)
    control.write_blocks(lab_env.lab, data, DATA_BLOCKS, seed=2, compressible=0.5)
    # EC2 is eventually consistent (the lab's ec2_consistency model): wait until the new resources are visible, as
    # a user's script would before backing them up.
    waiting.instances_in(setup, "admin", "us-east-1", [instance_id], "running")
    waiting.retry_not_found(lambda: ec2.describe_volumes(VolumeIds=[root, data]), what="the fixture's volumes")
    return Ec2Env(lab_env, lab_env.factory(), setup, instance_id, root, data, library)
