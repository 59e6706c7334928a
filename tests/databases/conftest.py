"""Database fixtures: sources created in the fresh lab of ``lab_env`` (tenant-a, us-east-1 unless told)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog

TENANT = "tenant-a"
VAULT = "admin"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
SOURCE_TAGS = [{"Key": "team", "Value": "payments"}, {"Key": "env", "Value": "prod"}]


@dataclass
class Databases:
    """Creates sources with test scaffolding calls (a non-strict factory: these are not skyvault's calls)."""

    env: LabEnv

    def __post_init__(self) -> None:
        self.setup = ClientFactory(self.env.config, base_dir=self.env.config_path.parent, strict_guard=False)

    def client(self, service: str, account: str = TENANT, region: str = REGION) -> Any:
        return self.setup.client(account, region, service).raw

    @property
    def catalog(self) -> Catalog:
        return Catalog.open(self.env.state_dir)

    def network(self, account: str = TENANT) -> dict[str, str]:
        ec2 = self.client("ec2", account)
        vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.10.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"][
                "SubnetId"
            ]
            for i, z in ((1, "a"), (2, "b"))
        ]
        sg = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
        self.client("rds", account).create_db_subnet_group(
            DBSubnetGroupName="db-private", DBSubnetGroupDescription="private", SubnetIds=subnets
        )
        return {"subnet_group": "db-private", "security_group": sg}

    def rds(self, identifier: str = "orders-db", *, encrypted: bool = True, **extra: Any) -> dict[str, Any]:
        net = self.network()
        rds = self.client("rds")
        rds.create_db_parameter_group(
            DBParameterGroupName="orders-pg", DBParameterGroupFamily="postgres16", Description="orders"
        )
        return dict(
            rds.create_db_instance(
                DBInstanceIdentifier=identifier,
                DBInstanceClass="db.m6g.large",
                Engine="postgres",
                EngineVersion="16.3",
                MasterUsername="app",
                MasterUserPassword="correct-horse-1",
                AllocatedStorage=50,
                Port=6543,
                MultiAZ=True,
                StorageEncrypted=encrypted,
                EnableIAMDatabaseAuthentication=True,
                DBSubnetGroupName=net["subnet_group"],
                VpcSecurityGroupIds=[net["security_group"]],
                DBParameterGroupName="orders-pg",
                Tags=SOURCE_TAGS,
                **extra,
            )["DBInstance"]
        )

    def cluster(self, service: str, identifier: str, engine: str, instance_class: str, *, readers: int = 1) -> None:
        net = self.network()
        client = self.client(service)
        client.create_db_cluster(
            DBClusterIdentifier=identifier,
            Engine=engine,
            MasterUsername="app",
            MasterUserPassword="correct-horse-1",
            StorageEncrypted=True,
            DBSubnetGroupName=net["subnet_group"],
            VpcSecurityGroupIds=[net["security_group"]],
            Tags=SOURCE_TAGS,
        )
        for index in range(1 + readers):
            client.create_db_instance(
                DBInstanceIdentifier=f"{identifier}-{index}",
                DBInstanceClass=instance_class,
                Engine=engine,
                DBClusterIdentifier=identifier,
            )

    def redshift(self, identifier: str = "warehouse", *, kms_key: str | None = None, encrypted: bool = False) -> None:
        params: dict[str, Any] = {"Encrypted": True} if encrypted or kms_key else {}
        if kms_key:
            params["KmsKeyId"] = kms_key
        self.client("redshift").create_cluster(
            ClusterIdentifier=identifier,
            NodeType="ra3.xlplus",
            ClusterType="multi-node",
            NumberOfNodes=2,
            MasterUsername="admin",
            MasterUserPassword="Correct-horse-1",
            Port=5440,
            Tags=SOURCE_TAGS,
            **params,
        )

    def customer_key(self, account: str = TENANT, region: str = REGION, *, usable_by: str | None = None) -> str:
        """A customer-managed key; ``usable_by``: an account ID its key policy also lets use the key."""
        params: dict[str, Any] = {"Description": "customer key"}
        if usable_by:
            owner = self.client("sts", account, region).get_caller_identity()["Account"]
            params["Policy"] = json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{owner}:root"}, "Action": "kms:*",
                 "Resource": "*"},
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{usable_by}:root"},
                 "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"], "Resource": "*"},
            ]})  # fmt: skip
        return str(self.client("kms", account, region).create_key(**params)["KeyMetadata"]["Arn"])


@pytest.fixture
def dbs(lab_env: LabEnv) -> Databases:
    return Databases(lab_env)


def tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}
