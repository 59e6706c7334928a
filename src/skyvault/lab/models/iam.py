"""Model: IAM enforcement (``skyvault lab up --enforce-iam``) without moto's false failures.

With enforcement on, moto 5.2.1 authenticates each request (the access key must exist; the SigV4 signature is
recomputed) and authorises its action against the caller's IAM policies: an IAM user's inline, attached and group
policies, or for assumed-role credentials the role's policies. Known gaps it leaves, and what real AWS does:

- **Signatures of requests without a body** (EBS direct GETs, ``CompleteSnapshot``, other REST calls): moto
  rebuilds the request with the parsed parameters as its body, so the payload hash differs and it answers
  ``SignatureDoesNotMatch``. AWS signs the empty body. Fixed: only form-encoded bodies (which the web framework
  consumes) are rebuilt from the parameters.
- **Action names from signing names**: moto forms the IAM action from the SigV4 signing name, so the Resource
  Groups Tagging API asks for ``tagging:GetResources``; AWS checks ``tag:GetResources``. Fixed by mapping signing
  names to IAM prefixes.
- **Error shape**: moto answers every denial with an XML ``AccessDenied`` document; JSON services (DynamoDB, EBS
  direct, tagging...) answer ``AccessDeniedException`` as JSON in AWS, and EC2 answers ``UnauthorizedOperation``.
  Fixed, so botocore (and skyvault's error translation) see the real codes.
- **Query strings with reserved characters** (``prefix=a/b/``, block tokens): handled by the
  ``iam_signature_query`` model, which re-encodes the query the way SigV4 does.

Not modelled (documented in docs/lab.md): moto ignores ``Condition`` blocks in identity policies and checks
resource ARNs only for S3, IAM and STS (see ``iam_unknown_resource`` for how the lab treats the rest).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

_MARK = "_skyvault_iam_enforcement_model"

# SigV4 signing name -> IAM action prefix, where they differ.
IAM_PREFIX_BY_SIGNING_NAME = {"tagging": "tag", "monitoring": "cloudwatch", "email": "ses"}
# SigV4 signing name -> botocore service name, where they differ (to learn the protocol).
BOTOCORE_BY_SIGNING_NAME = {"tagging": "resourcegroupstaggingapi", "monitoring": "cloudwatch", "email": "ses"}


@cache
def protocol_of(signing_name: str) -> str:
    import botocore.session

    try:
        model = botocore.session.get_session().get_service_model(
            BOTOCORE_BY_SIGNING_NAME.get(signing_name, signing_name)
        )
    except Exception:
        return "query"
    return str(model.protocol)


def _cbor_text(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) < 24:
        return bytes([0x60 | len(data)]) + data
    if len(data) < 256:
        return bytes([0x78, len(data)]) + data
    return bytes([0x79]) + len(data).to_bytes(2, "big") + data


def cbor_map(fields: dict[str, str]) -> bytes:
    """CBOR for a small map of text to text: what Smithy RPC v2 CBOR services put in an error body."""
    return bytes([0xA0 | len(fields)]) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in fields.items())


def _http_error(body: str | bytes, status: int) -> Exception:
    # moto's auth step turns an HTTPException into (description, status): the body carries code and message.
    from werkzeug.exceptions import HTTPException

    error = HTTPException()
    error.description = body  # type: ignore[assignment]  # moto sends it as the body; CBOR bodies are bytes
    error.code = status
    return error


def _json_error(code: str, message: str, status: int = 403, *, cbor: bool = False) -> Exception:
    fields = {"__type": code, "message": message}
    return _http_error(cbor_map(fields) if cbor else json.dumps(fields), status)


def _ec2_unauthorized(message: str) -> Exception:
    text = escape(f"You are not authorized to perform this operation. {message}")
    body = (
        "<Response><Errors><Error><Code>UnauthorizedOperation</Code>"
        f"<Message>{text}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    )
    return _http_error(body, 403)


def _patch() -> None:
    from moto.iam.access_control import IAMRequest, IAMRequestBase

    original_init: Callable[..., None] = IAMRequestBase.__init__
    original_create_request: Callable[[Any], Any] = IAMRequestBase._create_aws_request
    original_access_denied: Callable[[Any], None] = IAMRequest._raise_access_denied
    original_signature: Callable[[Any], None] = IAMRequest._raise_signature_does_not_match
    original_invalid_key: Callable[[Any, str], None] = IAMRequest._raise_invalid_access_key

    def init_with_iam_prefix(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        prefix = IAM_PREFIX_BY_SIGNING_NAME.get(self._service)
        if prefix:
            self._action = prefix + self._action[len(self._service) :]

    def _create_aws_request(self: Any) -> Any:
        request = original_create_request(self)
        content_type = next((v for k, v in self._headers.items() if k.lower() == "content-type"), "")
        if not self._body and "x-www-form-urlencoded" not in str(content_type):
            request.data = b""  # the client signed an empty body, not the parsed parameters
        return request

    def _json_service(self: Any) -> bool:
        return protocol_of(self._service) in ("json", "rest-json", "smithy-rpc-v2-cbor")

    def _cbor(self: Any) -> bool:
        # Smithy RPC v2 CBOR clients (botocore prefers it where a service offers it) parse CBOR error bodies.
        return any(k.lower() == "smithy-protocol" and v == "rpc-v2-cbor" for k, v in self._headers.items())

    def _raise_access_denied(self: Any) -> None:
        message = f"User: {self._access_key.arn} is not authorized to perform: {self._action}"
        if _json_service(self):
            raise _json_error("AccessDeniedException", message, cbor=_cbor(self))
        if self._service == "ec2":
            raise _ec2_unauthorized(message)
        original_access_denied(self)

    def _raise_signature_does_not_match(self: Any) -> None:
        if _json_service(self):
            message = "The request signature we calculated does not match the signature you provided."
            raise _json_error("InvalidSignatureException", message, cbor=_cbor(self))
        original_signature(self)

    def _raise_invalid_access_key(self: Any, reason: str) -> None:
        if _json_service(self):
            message = "The security token included in the request is invalid."
            raise _json_error("UnrecognizedClientException", message, cbor=_cbor(self))
        original_invalid_key(self, reason)

    setattr(IAMRequestBase, "__init__", init_with_iam_prefix)  # noqa: B010
    setattr(IAMRequestBase, "_create_aws_request", _create_aws_request)  # noqa: B010
    setattr(IAMRequest, "_raise_access_denied", _raise_access_denied)  # noqa: B010
    setattr(IAMRequest, "_raise_signature_does_not_match", _raise_signature_does_not_match)  # noqa: B010
    setattr(IAMRequest, "_raise_invalid_access_key", _raise_invalid_access_key)  # noqa: B010


def apply() -> None:
    from moto.iam.access_control import IAMRequestBase

    if getattr(IAMRequestBase, _MARK, False):
        return
    _patch()
    setattr(IAMRequestBase, _MARK, True)
