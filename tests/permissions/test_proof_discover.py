"""Proof: discovery of every service whose driver exists runs on exactly its generated policy."""

from __future__ import annotations

from permissions.proof import Proof, Scenario, proof_tests
from skyvault.engine.discovery import discover
from skyvault.permissions.registry import Feature

ACCOUNT = "tenant-a"
STOCK_AMI = "ami-12c6146b"


def _discover(proof: Proof, services: list[str]) -> set[str]:
    result = discover(proof.factory(), accounts=[ACCOUNT], regions=[proof.region], services=services, max_workers=2)
    if result.failures:
        raise result.failures[0].error
    return {r.id for r in result.resources}


def setup_ec2(proof: Proof) -> None:
    ec2 = proof.raw("ec2")
    proof.state["volume"] = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    # One of moto's stock AMIs (looking one up costs seconds in moto).
    launched = ec2.run_instances(ImageId=STOCK_AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    proof.state["instance"] = launched["Instances"][0]["InstanceId"]
    # EC2 is eventually consistent (the lab's ec2_consistency model): wait until discovery can see them (the volume,
    # created first, is visible once the instance is).
    ec2.get_waiter("instance_exists").wait(
        InstanceIds=[proof.state["instance"]], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def run_ec2(proof: Proof) -> None:
    found = _discover(proof, ["ec2", "ebs"])
    assert {proof.state["volume"], proof.state["instance"]} <= found


def setup_rds(proof: Proof) -> None:
    rds = proof.raw("rds")
    rds.create_db_instance(DBInstanceIdentifier="orders", Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="u", MasterUserPassword="password1")  # fmt: skip
    rds.create_db_cluster(DBClusterIdentifier="ledger", Engine="aurora-postgresql", MasterUsername="u",
                          MasterUserPassword="password1")  # fmt: skip


def run_rds(proof: Proof) -> None:
    found = _discover(proof, ["rds", "aurora"])
    assert {"orders", "ledger"} <= found, found


def setup_docdb(proof: Proof) -> None:
    proof.raw("docdb").create_db_cluster(DBClusterIdentifier="catalog", Engine="docdb", MasterUsername="u",
                                         MasterUserPassword="password1")  # fmt: skip


def run_docdb(proof: Proof) -> None:
    assert "catalog" in _discover(proof, ["docdb"])


def setup_redshift(proof: Proof) -> None:
    proof.raw("redshift").create_cluster(ClusterIdentifier="warehouse", NodeType="dc2.large", MasterUsername="u",
                                         MasterUserPassword="Password1", ClusterType="single-node")  # fmt: skip


def run_redshift(proof: Proof) -> None:
    assert "warehouse" in _discover(proof, ["redshift"])


def setup_dynamodb(proof: Proof) -> None:
    proof.raw("dynamodb").create_table(
        TableName="orders",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )


def run_dynamodb(proof: Proof) -> None:
    assert "orders" in _discover(proof, ["dynamodb"])


def setup_s3(proof: Proof) -> None:
    s3 = proof.raw("s3")
    s3.create_bucket(Bucket="tenant-a-assets")
    s3.put_bucket_tagging(Bucket="tenant-a-assets", Tagging={"TagSet": [{"Key": "team", "Value": "web"}]})


def run_s3(proof: Proof) -> None:
    assert "tenant-a-assets" in _discover(proof, ["s3"])


DISCOVER = (Feature.DISCOVER,)
SCENARIOS = [
    Scenario("ec2-discover", rows=("ec2",), features=DISCOVER, setup=setup_ec2, run=run_ec2),
    Scenario("rds-discover", rows=("rds",), features=DISCOVER, setup=setup_rds, run=run_rds),
    Scenario("docdb-discover", rows=("docdb",), features=DISCOVER, setup=setup_docdb, run=run_docdb),
    Scenario("redshift-discover", rows=("redshift",), features=DISCOVER, setup=setup_redshift, run=run_redshift),
    Scenario("dynamodb-discover", rows=("dynamodb",), features=DISCOVER, setup=setup_dynamodb, run=run_dynamodb),
    Scenario("s3-discover", rows=("s3",), features=DISCOVER, setup=setup_s3, run=run_s3),
]

test_generated_policy_suffices, test_each_action_is_needed = proof_tests(SCENARIOS)
