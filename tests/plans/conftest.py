"""Plan fixtures: a lab estate of tagged EC2 instances and RDS databases in two accounts and two regions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.aws.clients import ClientFactory
from skyvault.config import PlanConfig, SkyvaultConfig, save_config
from skyvault.services.ec2 import waiting


@dataclass
class Estate:
    env: LabEnv
    setup: ClientFactory
    instances: dict[str, str] = field(default_factory=dict)  # label -> instance ID
    databases: dict[str, str] = field(default_factory=dict)  # label -> DB identifier

    def ec2(self, account: str, region: str) -> Any:
        return self.setup.client(account, region, "ec2").raw

    def instance(self, label: str, account: str, region: str, tags: dict[str, str]) -> str:
        ec2 = self.ec2(account, region)
        images = ec2.describe_images(Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}])["Images"]
        image = sorted(images, key=lambda i: i["ImageId"])[0]["ImageId"]
        instance_id = ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 1, "VolumeType": "gp3"}}],
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": k, "Value": v} for k, v in {"Name": label, **tags}.items()]}],
        )["Instances"][0]["InstanceId"]  # fmt: skip
        waiting.instances_in(self.setup, account, region, [instance_id], "running")
        self.instances[label] = instance_id
        return str(instance_id)

    def database(self, identifier: str, account: str, region: str, tags: dict[str, str]) -> str:
        rds: Any = self.setup.client(account, region, "rds").raw
        rds.create_db_instance(
            DBInstanceIdentifier=identifier, DBInstanceClass="db.t3.micro", Engine="postgres", EngineVersion="16.3",
            MasterUsername="app", MasterUserPassword="correct-horse-1", AllocatedStorage=20,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )  # fmt: skip
        self.databases[identifier] = identifier
        return identifier

    def add_plans(self, **plans: dict[str, Any]) -> SkyvaultConfig:
        data = self.env.config.model_dump(mode="json")
        data["plans"] = {**data.get("plans", {}), **{n: PlanConfig.model_validate(p).model_dump(mode="json")
                                                     for n, p in plans.items()}}  # fmt: skip
        config = SkyvaultConfig.model_validate(data)
        save_config(config, self.env.config_path)
        self.env.config = config
        return config


@pytest.fixture
def estate(lab_env: LabEnv, tmp_path: Path) -> Estate:
    setup = ClientFactory(lab_env.config, base_dir=lab_env.config_path.parent, strict_guard=False)
    return Estate(lab_env, setup)
