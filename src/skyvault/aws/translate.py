"""The one boundary where botocore exceptions become skyvault errors.

Access denied names the IAM action(s), the step and the feature (from the permission registry) and the command
that prints the policy to fix it; not-found names the resource; throttling that outlived botocore's retries
becomes ``ThrottledError``.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
    WaiterError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from skyvault.errors import (
    AccessDeniedError,
    AuthError,
    AwsError,
    ConflictError,
    NotFoundError,
    SkyvaultError,
    ThrottledError,
)
from skyvault.permissions.registry import REGISTRY

ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "AccessDeniedFault",
    "Forbidden",
    "403",
}
THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "BandwidthLimitExceeded",
    "EC2ThrottledException",
}
AUTH_FAILED = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidAccessKeyId",
    "IncompleteSignature",
}
_STATED_ACTION = re.compile(r"not authorized to perform: ([a-z0-9-]+:[A-Za-z0-9]+)")
CONFLICT_HINTS = ("AlreadyExists", "AlreadyOwnedByYou", "InUse", "InvalidState", "Conflict", "Duplicate")
NOT_FOUND_HINTS = ("NotFound", "NoSuch", "DoesNotExist")
# EC2 answers a syntactically wrong ID (``InvalidInstanceID.Malformed``) like a missing one; a malformed
# *document* (``MalformedPolicyDocument``) is a different problem and stays an AwsError.
MALFORMED_ID_SUFFIX = ".Malformed"

# Request parameters that name the resource an operation acts on, most specific first.
_ID_PARAMS = (
    "InstanceIds",
    "VolumeIds",
    "SnapshotIds",
    "ImageIds",
    "InstanceId",
    "VolumeId",
    "SnapshotId",
    "ImageId",
    "DBInstanceIdentifier",
    "DBClusterIdentifier",
    "DBSnapshotIdentifier",
    "DBClusterSnapshotIdentifier",
    "ClusterIdentifier",
    "SnapshotIdentifier",
    "TableName",
    "TableArn",
    "BackupArn",
    "Bucket",
    "Key",
    "RoleArn",
    "FirstSnapshotId",
    "SecondSnapshotId",
)


def resource_named(params: dict[str, Any]) -> str | None:
    for name in _ID_PARAMS:
        if name in params:
            value = params[name]
            return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return None


def translate_client_error(
    exc: ClientError,
    *,
    service: str,
    operation: str,
    params: dict[str, Any],
    account: str,
    region: str,
) -> SkyvaultError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "")) or str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    message = str(error.get("Message", "")) or str(exc)
    where = f"{service}:{operation} in account {account!r}, {region}"

    if code in ACCESS_DENIED:
        declared = REGISTRY.for_operation(service, operation)
        actions = tuple(dict.fromkeys(a for p in declared for a in p.iam_actions)) or (f"{service}:{operation}",)
        # Most services name the denied action ("not authorized to perform: rds:AddTagsToResource"): it may be a
        # companion (tagging on create, a KMS grant) of the operation's own; name it first.
        stated = _STATED_ACTION.search(message)
        if stated:
            actions = tuple(dict.fromkeys((stated.group(1), *actions)))
        step = declared[0].step if declared else None
        feature = str(declared[0].feature) if declared else None
        policy = declared[0].policy if declared else service
        named = " / ".join(actions)
        # An operation several features call (discover and backup both describe volumes) names each use.
        uses = list(dict.fromkeys(f"{p.step!r} ({p.feature})" for p in declared))
        doing = f" during step {' or '.join(uses)}" if uses else ""
        return AccessDeniedError(
            f"access denied: missing {named}{doing}, {where}: {message}",
            actions=actions,
            step=step,
            feature=feature,
            hint=f"grant it with the policy printed by 'skyvault policy {policy}'",
        )
    if code in THROTTLED:
        return ThrottledError(
            f"throttled by AWS after retries with backoff: {where}: {message}",
            code=code,
            operation=operation,
            hint="lower the job's concurrency or retry later",
        )
    if code in AUTH_FAILED:
        return AuthError(f"credentials were refused ({code}) for {where}: {message}")
    if (
        any(h in code for h in NOT_FOUND_HINTS)
        or code.endswith(MALFORMED_ID_SUFFIX)
        or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
    ):
        resource = resource_named(params)
        subject = f"{resource} not found" if resource else "resource not found"
        return NotFoundError(f"{subject} ({code}) in account {account!r}, {region}: {message}")
    if any(h in code for h in CONFLICT_HINTS):
        return ConflictError(f"{where}: {code}: {message}")
    return AwsError(f"{where} failed: {code}: {message}", code=code, operation=operation)


def translate_botocore_error(exc: BotoCoreError, *, service: str, operation: str, account: str) -> SkyvaultError:
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AuthError(
            f"no AWS credentials for account {account!r}: {exc}",
            hint="check the account's auth settings ('skyvault accounts list')",
        )
    if isinstance(exc, BotoConnectionError):
        return AwsError(
            f"cannot reach the {service} endpoint for account {account!r}: {exc}",
            operation=operation,
            hint="is the endpoint right? for the local lab: 'skyvault lab status'",
        )
    if isinstance(exc, WaiterError):
        return AwsError(f"gave up waiting ({service}:{operation}) in account {account!r}: {exc}", operation=operation)
    return AwsError(f"{service}:{operation} in account {account!r} failed: {exc}", operation=operation)
