"""The AWS boundary: credentials per auth method, retries with backoff, error translation, the call guard."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from botocore.exceptions import ClientError

from conftest import credentials_of
from skyvault.aws.clients import ClientFactory
from skyvault.aws.guard import CallGuard, UndeclaredCallError
from skyvault.aws.translate import translate_client_error
from skyvault.config import AccountConfig, AuthMethod, SkyvaultConfig
from skyvault.errors import (
    EXIT_CODES,
    AccessDeniedError,
    AuthError,
    AwsError,
    ConflictError,
    NotFoundError,
    SkyvaultError,
    ThrottledError,
)
from skyvault.permissions.registry import Registry


class ScriptedAws(BaseHTTPRequestHandler):
    """A JSON-protocol endpoint that answers from a script: a list of (status, body) per request."""

    script: ClassVar[list[tuple[int, dict[str, Any]]]] = []
    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        type(self).seen.append(self.headers.get("X-Amz-Target", ""))
        status, body = type(self).script.pop(0) if type(self).script else (200, {})
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[ScriptedAws]]]:
    handler = type("Handler", (ScriptedAws,), {"script": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


def factory_for(endpoint: str, *, max_attempts: int = 4) -> ClientFactory:
    config = SkyvaultConfig(
        accounts={
            "a": AccountConfig(
                auth=AuthMethod.KEYS,
                access_key_id_env="K",
                secret_access_key_env="S",
                endpoint_url=endpoint,
            )
        }
    )
    # The guard is not strict here: these tests call an operation no driver declares on purpose.
    return ClientFactory(config, strict_guard=False, max_attempts=max_attempts, environ={"K": "AKID", "S": "secret"})


THROTTLE = (400, {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"})


def test_throttling_is_retried_then_succeeds(scripted: tuple[str, type[ScriptedAws]]) -> None:
    endpoint, handler = scripted
    handler.script = [THROTTLE, THROTTLE, (200, {"TableNames": ["t1"]})]
    client = factory_for(endpoint).client("a", "us-east-1", "dynamodb")
    assert client.list_tables()["TableNames"] == ["t1"]
    assert len(handler.seen) == 3


def test_throttling_that_outlives_retries_is_a_throttled_error(scripted: tuple[str, type[ScriptedAws]]) -> None:
    endpoint, handler = scripted
    handler.script = [THROTTLE] * 10
    client = factory_for(endpoint, max_attempts=2).client("a", "us-east-1", "dynamodb")
    with pytest.raises(ThrottledError) as caught:
        client.list_tables()
    assert caught.value.exit_code == 7
    assert "ListTables" in caught.value.message
    assert len(handler.seen) == 2


def test_access_denied_names_the_action(scripted: tuple[str, type[ScriptedAws]]) -> None:
    endpoint, handler = scripted
    handler.script = [(400, {"__type": "AccessDeniedException", "message": "not authorized"})]
    client = factory_for(endpoint).client("a", "us-east-1", "dynamodb")
    with pytest.raises(AccessDeniedError) as caught:
        client.describe_table(TableName="orders")
    assert caught.value.actions == ("dynamodb:DescribeTable",)
    assert "dynamodb:DescribeTable" in caught.value.message
    assert caught.value.exit_code == 5


def test_not_found_names_the_resource(scripted: tuple[str, type[ScriptedAws]]) -> None:
    endpoint, handler = scripted
    handler.script = [(400, {"__type": "ResourceNotFoundException", "message": "Requested resource not found"})]
    client = factory_for(endpoint).client("a", "us-east-1", "dynamodb")
    with pytest.raises(NotFoundError, match="orders not found"):
        client.describe_table(TableName="orders")


def test_keys_auth_sends_the_key_from_the_named_environment_variable(
    scripted: tuple[str, type[ScriptedAws]],
) -> None:
    endpoint, _ = scripted
    session = factory_for(endpoint).session("a")
    assert credentials_of(session).access_key == "AKID"


def test_keys_auth_missing_variable_is_an_auth_error() -> None:
    config = SkyvaultConfig(
        accounts={"a": AccountConfig(auth=AuthMethod.KEYS, access_key_id_env="K", secret_access_key_env="S")}
    )
    with pytest.raises(AuthError, match="environment variable K and S is not set"):
        ClientFactory(config, environ={}).session("a")


def test_keys_auth_from_profile_in_a_credentials_file(tmp_path: Path) -> None:
    (tmp_path / "creds").write_text("[backup]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = s\n")
    config = SkyvaultConfig(
        accounts={"a": AccountConfig(auth=AuthMethod.KEYS, profile="backup", credentials_file="creds")}
    )
    session = ClientFactory(config, base_dir=tmp_path, environ={}).session("a")
    assert credentials_of(session).access_key == "AKIAPROFILE"


def test_default_auth_uses_the_credential_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    config = SkyvaultConfig(accounts={"a": AccountConfig()})
    assert credentials_of(ClientFactory(config).session("a")).access_key == "AKIACHAIN"


def test_strict_guard_refuses_undeclared_calls_before_sending(scripted: tuple[str, type[ScriptedAws]]) -> None:
    endpoint, handler = scripted
    factory = factory_for(endpoint)
    # An empty registry: whatever drivers declare, this guard knows no operation.
    factory.guard = CallGuard(strict=True, registry=Registry())
    with pytest.raises(UndeclaredCallError, match="dynamodb:DeleteTable"):
        factory.client("a", "us-east-1", "dynamodb").delete_table(TableName="t")
    assert handler.seen == []


def test_lenient_guard_warns_and_counts(
    scripted: tuple[str, type[ScriptedAws]], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint, handler = scripted
    handler.script = [(200, {"TableNames": []})]
    factory = factory_for(endpoint)
    factory.guard = CallGuard(strict=False, registry=Registry())
    factory.client("a", "us-east-1", "dynamodb").list_tables()
    assert "undeclared AWS call dynamodb:ListTables" in caplog.text
    assert factory.guard.counts() == {"ListTables": 1}


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("UnauthorizedOperation", 403, AccessDeniedError),
        ("InvalidVolume.NotFound", 400, NotFoundError),
        ("InvalidInstanceID.Malformed", 400, NotFoundError),
        ("DBSnapshotAlreadyExists", 400, ConflictError),
        ("RequestLimitExceeded", 503, ThrottledError),
        ("ExpiredToken", 400, AuthError),
        ("InternalError", 500, AwsError),
        ("MalformedPolicyDocument", 400, AwsError),
    ],
)
def test_translation_table(code: str, status: int, expected: type[SkyvaultError]) -> None:
    exc = ClientError(
        {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {
                "RequestId": "r",
                "HostId": "h",
                "HTTPStatusCode": status,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        "DescribeVolumes",
    )
    error = translate_client_error(
        exc, service="ec2", operation="DescribeVolumes", params={"VolumeIds": ["vol-1"]}, account="a", region="r"
    )
    assert type(error) is expected
    assert error.exit_code == EXIT_CODES[expected]


def test_exit_codes_are_distinct_and_stable() -> None:
    codes = list(EXIT_CODES.values())
    assert len(codes) == len(set(codes))
    # The documented contract (README "Exit codes"): changing one breaks users' scripts.
    assert {cls.__name__: code for cls, code in EXIT_CODES.items()} == {
        "SkyvaultError": 1,
        "ConfigError": 3,
        "NotFoundError": 4,
        "AccessDeniedError": 5,
        "AwsError": 6,
        "ThrottledError": 7,
        "AuthError": 8,
        "LibraryError": 9,
        "LibraryCorruptError": 10,
        "LibraryLockedError": 11,
        "WrongPassphraseError": 12,
        "ConfirmationRequiredError": 13,
        "JobError": 14,
        "LabError": 15,
        "PreflightError": 16,
        "ConflictError": 17,
        "NotBuiltError": 64,
    }


def test_waiter_stopped_by_access_denied_names_the_action(scripted: tuple[str, type[ScriptedAws]]) -> None:
    endpoint, handler = scripted
    handler.script = [(400, {"__type": "AccessDeniedException", "message": "not authorized"})]
    client = factory_for(endpoint).client("a", "us-east-1", "dynamodb")
    with pytest.raises(AccessDeniedError) as caught:
        client.get_waiter("table_exists").wait(TableName="orders", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    assert caught.value.actions == ("dynamodb:DescribeTable",)


def test_waiter_that_times_out_is_an_aws_error(scripted: tuple[str, type[ScriptedAws]]) -> None:
    endpoint, handler = scripted
    creating = (200, {"Table": {"TableName": "orders", "TableStatus": "CREATING"}})
    handler.script = [creating, creating]
    client = factory_for(endpoint).client("a", "us-east-1", "dynamodb")
    with pytest.raises(AwsError, match="gave up waiting") as caught:
        client.get_waiter("table_exists").wait(TableName="orders", WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    assert not isinstance(caught.value, AccessDeniedError)


def test_paginated_pages_are_translated(scripted: tuple[str, type[ScriptedAws]]) -> None:
    endpoint, handler = scripted
    denied = (400, {"__type": "AccessDeniedException", "message": "not authorized"})
    handler.script = [(200, {"TableNames": ["orders"], "LastEvaluatedTableName": "orders"}), denied]
    client = factory_for(endpoint).client("a", "us-east-1", "dynamodb")
    pages = client.get_paginator("list_tables").paginate()
    seen: list[str] = []
    with pytest.raises(AccessDeniedError) as caught:
        for page in pages:
            seen.extend(page.get("TableNames", []))
    assert seen == ["orders"]  # the first page arrived; the second page's denial is a skyvault error
    assert caught.value.actions == ("dynamodb:ListTables",)


def test_full_paginated_result_is_translated(scripted: tuple[str, type[ScriptedAws]]) -> None:
    endpoint, handler = scripted
    handler.script = [(400, {"__type": "ResourceNotFoundException", "message": "no such table"})]
    client = factory_for(endpoint).client("a", "us-east-1", "dynamodb")
    with pytest.raises(NotFoundError):
        client.get_paginator("list_tags_of_resource").paginate(
            ResourceArn="arn:aws:dynamodb:us-east-1:1:table/x"
        ).build_full_result()
