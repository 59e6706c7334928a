"""AWS KMS key wrapping: the library master key is sealed with a KMS data key (GenerateDataKey / Decrypt)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from skyvault.permissions import Feature, declare

if TYPE_CHECKING:  # only the type: a local library's commands never load boto3
    from skyvault.aws.clients import ClientFactory

GENERATE_DATA_KEY = declare(
    policy="library",
    service="kms",
    operation="GenerateDataKey",
    feature=Feature.LIBRARY,
    step="create library key",
    purpose="Get a data key from the library's KMS key to wrap the library master key (at library init).",
    resources=("arn:${Partition}:kms:${Region}:${Account}:key/*",),
)
DECRYPT = declare(
    policy="library",
    service="kms",
    operation="Decrypt",
    feature=Feature.LIBRARY,
    step="open library",
    purpose="Unwrap the data key that seals the library master key, every time the library is opened.",
    resources=("arn:${Partition}:kms:${Region}:${Account}:key/*",),
)


class KmsKeyWrapper:
    """A ``KeyWrapper`` over one KMS key, reached through a configured account."""

    def __init__(self, factory: ClientFactory, account: str, region: str, key_id: str) -> None:
        self.key_id = key_id
        self._client = factory.client(account, region, "kms")

    def generate_data_key(self) -> tuple[bytes, bytes]:
        response = self._client.generate_data_key(KeyId=self.key_id, KeySpec="AES_256")
        return bytes(response["Plaintext"]), bytes(response["CiphertextBlob"])

    def decrypt(self, ciphertext: bytes) -> bytes:
        response = self._client.decrypt(CiphertextBlob=ciphertext, KeyId=self.key_id)
        return bytes(response["Plaintext"])
