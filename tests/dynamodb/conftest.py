"""DynamoDB fixtures: tables created in the fresh lab of ``lab_env`` (tenant-a, us-east-1), loaded quickly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog

TENANT = "tenant-a"
REGION = "us-east-1"


@dataclass
class Tables:
    """Creates and loads tables with test scaffolding calls (a non-strict factory: these are not skyvault's)."""

    env: LabEnv

    def __post_init__(self) -> None:
        self.setup = ClientFactory(self.env.config, base_dir=self.env.config_path.parent, strict_guard=False)

    def client(self, account: str = TENANT, region: str = REGION) -> Any:
        return self.setup.client(account, region, "dynamodb").raw

    def no_retries(self, account: str = TENANT, region: str = REGION) -> Any:
        """A client that does not retry throttling (botocore retries it for up to ~25 s), to see it."""
        import boto3
        from botocore.config import Config

        raw = self.client(account, region)
        credentials = raw._request_signer._credentials  # the lab role's, as the factory made them
        return boto3.client(
            "dynamodb", region_name=region, endpoint_url=raw.meta.endpoint_url,
            aws_access_key_id=credentials.access_key, aws_secret_access_key=credentials.secret_key,
            aws_session_token=credentials.token, config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )  # fmt: skip

    @property
    def catalog(self) -> Catalog:
        return Catalog.open(self.env.state_dir)

    def simple(self, name: str, *, rcu: int | None = None, wcu: int = 5, range_key: bool = True) -> None:
        keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
        attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
        if range_key:
            keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
            attrs.append({"AttributeName": "sk", "AttributeType": "N"})
        billing: dict[str, Any] = (
            {"BillingMode": "PAY_PER_REQUEST"}
            if rcu is None
            else {"BillingMode": "PROVISIONED",
                  "ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}}
        )  # fmt: skip
        self.client().create_table(TableName=name, KeySchema=keys, AttributeDefinitions=attrs, **billing)

    def load(self, name: str, items: Iterable[dict[str, Any]]) -> int:
        """Writes items straight into the lab (batches of 25; the lab throttles provisioned tables, so retried)."""
        client = self.client()
        batch: list[dict[str, Any]] = []
        count = 0
        for item in items:
            batch.append({"PutRequest": {"Item": item}})
            count += 1
            if len(batch) == 25:
                self._write(client, name, batch)
                batch = []
        if batch:
            self._write(client, name, batch)
        return count

    @staticmethod
    def _write(client: Any, name: str, batch: list[dict[str, Any]]) -> None:
        pending = {name: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def item(i: int, *, pad: int = 120) -> dict[str, Any]:
    """An item with every attribute type (S, N, B, SS, NS, BS, M, L, BOOL, NULL)."""
    return {
        "pk": {"S": f"user-{i // 4:06d}"},
        "sk": {"N": str(i % 4)},
        "name": {"S": f"name {i} " + "x" * pad},
        "n": {"N": f"{i}.5"},
        "blob": {"B": bytes([i % 256, 0, 255]) * 3},
        "tags": {"SS": [f"t{i % 3}", "all"]},
        # a number set never holds two equal numbers (AWS compares them by value: "1000" and "1e3" are one)
        "scores": {"NS": [str(i), "-1", "1e-3"]},
        "bins": {"BS": [b"\x00", bytes([i % 251 + 1])]},
        "meta": {"M": {"a": {"L": [{"N": "1"}, {"S": "two"}, {"NULL": True}]}, "ok": {"BOOL": i % 2 == 0}}},
        "list": {"L": [{"M": {"x": {"B": b"\x01\x02"}}}, {"BOOL": False}]},
        "none": {"NULL": True},
    }


@pytest.fixture
def tables(lab_env: LabEnv) -> Tables:
    return Tables(lab_env)
