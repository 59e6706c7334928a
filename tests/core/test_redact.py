"""Secrets never reach a log handler: the redaction filter over the shapes botocore logs them in."""

from __future__ import annotations

import io
import logging

import pytest

from skyvault.aws.redact import REDACTED, SecretRedactor, install

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
TOKEN = "FQoGZXIvYXdzEBYaDHJ0c2VjcmV0dG9rZW4+/abc=="
SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"

# Messages as botocore formats them (botocore.parsers, endpoint, auth), plus skyvault's own shapes.
LEAKY = [
    (
        "Response body:\n%s",
        (
            b"<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId>"
            b"<SecretAccessKey>" + SECRET.encode() + b"</SecretAccessKey><SessionToken>" + TOKEN.encode() + b"</Sess"
            b"ionToken></Credentials></AssumeRoleResult></AssumeRoleResponse>",
        ),
    ),
    (
        "Sending http request: %s",
        (
            "<AWSPreparedRequest method=POST, headers={'X-Amz-Security-Token': b'" + TOKEN + "', 'Authorization': "
            "b'AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host;"
            "x-amz-date;x-amz-security-token, Signature=" + SIGNATURE + "'}>",
        ),
    ),
    (
        "CanonicalRequest:\n%s",
        ("POST\n/\n\nhost:127.0.0.1:5000\nx-amz-date:20260101T000000Z\nx-amz-security-token:" + TOKEN + "\n\nhost",),
    ),
    ("Signature:\n%s", (SIGNATURE,)),
    ("Response body:\n%s", (f'{{"Credentials": {{"SecretAccessKey": "{SECRET}", "SessionToken": "{TOKEN}"}}}}',)),
    ("%s", ({"credentials": {"secret_key": SECRET, "token": TOKEN}},)),
    ("frozen %s", (f"ReadOnlyCredentials(access_key='ASIAEXAMPLE', secret_key='{SECRET}', token='{TOKEN}')",)),
    ("presigned %s", (f"https://h/o?X-Amz-Security-Token={TOKEN.replace('/', '%2F')}&X-Amz-Signature={SIGNATURE}",)),
    ("Authorization: AWS4-HMAC-SHA256 Credential=A/x, SignedHeaders=host, Signature=%s", (SIGNATURE,)),
]


@pytest.mark.parametrize(("template", "args"), LEAKY)
def test_each_shape_botocore_logs_is_redacted(template: str, args: tuple[object, ...]) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    install([handler], SecretRedactor())
    logger = logging.getLogger(f"test.redact.{id(stream)}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.debug(template, *args)
    out = stream.getvalue()
    assert REDACTED in out
    for secret in (SECRET, TOKEN, SIGNATURE, TOKEN.replace("/", "%2F")):
        assert secret not in out, out


def test_a_secret_seen_once_is_redacted_wherever_it_shows_up_later() -> None:
    redactor = SecretRedactor()
    assert SECRET not in redactor.redact(f"<SecretAccessKey>{SECRET}</SecretAccessKey>")
    assert redactor.redact(f"retrying with {SECRET} in a message of another shape") == (
        f"retrying with {REDACTED} in a message of another shape"
    )


def test_added_passphrase_is_redacted_and_ordinary_text_is_left_alone() -> None:
    redactor = SecretRedactor()
    redactor.add_secret("correct horse battery staple")
    text = "opened library with 'correct horse battery staple'; NextToken=abc ContinuationToken: x SignedHeaders=host"
    assert redactor.redact(text) == (
        f"opened library with '{REDACTED}'; NextToken=abc ContinuationToken: x SignedHeaders=host"
    )


def test_records_from_child_loggers_and_exceptions_pass_the_handler_filter() -> None:
    # A filter on a logger misses records propagating from its children; a handler filter sees them all.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    parent = logging.getLogger("test.redact.parent")
    parent.addHandler(handler)
    parent.propagate = False
    parent.setLevel(logging.DEBUG)
    install([handler], SecretRedactor())
    try:
        raise ValueError(f"'SessionToken': '{TOKEN}'")
    except ValueError:
        logging.getLogger("test.redact.parent.child").exception("failed with %s", {"SecretAccessKey": SECRET})
    out = stream.getvalue()
    assert "ValueError" in out and out.count(REDACTED) >= 2
    assert SECRET not in out and TOKEN not in out


def test_install_puts_one_filter_per_handler() -> None:
    handler = logging.StreamHandler(io.StringIO())
    first = install([handler], SecretRedactor())
    install([handler], SecretRedactor())
    assert [f for f in handler.filters if isinstance(f, SecretRedactor)] == [first]
