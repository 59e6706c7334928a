"""Model: S3 on Outposts buckets and access points, served on top of the lab's S3.

Real AWS (S3 on Outposts user guide: "Accessing S3 on Outposts using access points", "Setting up IAM with S3 on
Outposts", "How S3 on Outposts is different"):

- Objects on an Outposts bucket are reached only through an access point, addressed by its ARN
  ``arn:aws:s3-outposts:REGION:ACCOUNT:outpost/OUTPOST_ID/accesspoint/NAME``; SDKs send the request to
  ``https://NAME-ACCOUNT.OUTPOST_ID.s3-outposts.REGION.amazonaws.com`` (HTTPS only), signed for ``s3-outposts``.
- IAM actions are ``s3-outposts:*`` (``s3-outposts:GetObject``...), checked on the resource types the Service
  Authorization Reference lists as required for each: ``ListBucket`` on the access point's ARN and on the
  bucket's (``.../outpost/OUTPOST_ID/bucket/NAME``), object actions on the object's ARN under its bucket
  (``.../bucket/NAME/object/KEY``). ``s3:`` actions grant nothing here.
- The only storage class is ``OUTPOSTS``; a PutObject asking for another is refused (``InvalidStorageClass``).
  Object Lock is not supported (``NotImplemented``).

What the lab does: an Outposts bucket is a moto bucket under a hidden name (``create_bucket``, from the control
route ``outposts-bucket`` or the estate); requests arrive from the lab's TLS proxy (``skyvault.lab.tlsproxy``) with
the access point's host name; ``OutpostsFront`` maps the host to the bucket, rewrites the request to path style
for moto, and marks it; the authorisation patch checks the client's signature over the request it really sent
(``s3-outposts``, the original host) and the ``s3-outposts:`` action on those ARNs, under IAM enforcement. Not
emulated: access point and bucket policies (only identity policies are evaluated), VPC-only access points and the
Outposts' local network, ``s3control``'s Outposts bucket and access point APIs (buckets come from the control route),
capacity limits of an Outpost.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_MARK = "_skyvault_s3_outposts_model"
ENVIRON_KEY = "skyvault.lab.s3_outposts"  # not an HTTP_* key: a client cannot set it
_HOST = re.compile(r"^(?P<ap>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-(?P<account>\d{12})\.(?P<outpost>op-[0-9a-f]{17})\.")
_OUTPOST_ID = re.compile(r"^op-[0-9a-f]{17}$")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,48}[a-z0-9])$")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class AccessPoint:
    account: str
    region: str
    outpost: str
    name: str
    bucket: str  # the Outposts bucket's name
    backing: str  # the moto bucket holding its objects

    @property
    def arn(self) -> str:
        return f"arn:aws:s3-outposts:{self.region}:{self.account}:outpost/{self.outpost}/accesspoint/{self.name}"

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3-outposts:{self.region}:{self.account}:outpost/{self.outpost}/bucket/{self.bucket}"


@dataclass(frozen=True)
class OutpostsRequest:
    """What the client sent, kept for the authorisation check after the request was rewritten for moto."""

    access_point: AccessPoint
    host: str
    path_and_query: str
    authorization: str
    removed_headers: dict[str, str]  # signed by the client, dropped for moto


_ACCESS_POINTS: dict[tuple[str, str, str], AccessPoint] = {}  # (account, outpost, name)
_LOCK = threading.Lock()


class OutpostsModelError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def create_bucket(account: str, region: str, outpost: str, bucket: str, access_point: str) -> dict[str, str]:
    """An Outposts bucket with one access point (what ``s3control CreateBucket`` + ``CreateAccessPoint`` make)."""
    from moto.s3.models import s3_backends

    if not _OUTPOST_ID.match(outpost):
        raise OutpostsModelError(400, "ValidationError", f"not an Outpost ID (op- and 17 hex digits): {outpost!r}")
    for what, name in (("bucket", bucket), ("access point", access_point)):
        if not _NAME.match(name):
            raise OutpostsModelError(400, "ValidationError", f"invalid {what} name {name!r} (3-50 of a-z 0-9 -)")
    backing = f"skyvault-outposts-{outpost[3:11]}-{bucket}"[:63].rstrip("-")
    with _LOCK:
        key = (account, outpost, access_point)
        if key in _ACCESS_POINTS:
            raise OutpostsModelError(409, "AccessPointAlreadyOwnedByYou", f"access point {access_point} exists")
        backend = s3_backends[account]["aws"]
        if backing not in backend.buckets:
            backend.create_bucket(backing, region)
        point = AccessPoint(account, region, outpost, access_point, bucket, backing)
        _ACCESS_POINTS[key] = point
    return {"access_point_arn": point.arn, "bucket_arn": point.bucket_arn}


def access_point_for_host(host: str) -> AccessPoint | None:
    match = _HOST.match(host)
    if not match:
        return None
    return _ACCESS_POINTS.get((match["account"], match["outpost"], match["ap"]))


def _error(start_response: StartResponse, status: int, code: str, message: str) -> list[bytes]:
    from xml.sax.saxutils import escape

    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}</Message>'
        "<RequestId>skyvault-lab</RequestId></Error>"
    ).encode()
    reasons = {400: "Bad Request", 404: "Not Found", 501: "Not Implemented"}
    start_response(
        f"{status} {reasons.get(status, 'Error')}",
        [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]


class OutpostsFront:
    """WSGI: requests for an access point host become path-style requests on its backing bucket, marked."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        host = str(environ.get("HTTP_HOST", ""))
        if not _HOST.match(host):
            return self.app(environ, start_response)
        point = access_point_for_host(host)
        if point is None:
            return _error(start_response, 404, "NoSuchAccessPoint", f"no S3 on Outposts access point for {host}")
        query = str(environ.get("QUERY_STRING", ""))
        raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/"))
        if "?" not in raw and query:
            raw = f"{raw}?{query}"
        if "object-lock" in query.split("&") or any(p.startswith("object-lock=") for p in query.split("&")):
            return _error(start_response, 501, "NotImplemented", "S3 on Outposts does not support Object Lock")
        storage_class = environ.get("HTTP_X_AMZ_STORAGE_CLASS")
        if storage_class is not None and storage_class != "OUTPOSTS":
            return _error(start_response, 400, "InvalidStorageClass", "S3 on Outposts stores objects in OUTPOSTS only")
        authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
        removed = {"X-Amz-Storage-Class": storage_class} if storage_class is not None else {}
        environ[ENVIRON_KEY] = OutpostsRequest(point, host, raw, authorization, removed)
        environ.pop("HTTP_X_AMZ_STORAGE_CLASS", None)  # moto knows no OUTPOSTS class: the only one here
        environ["HTTP_HOST"] = f"127.0.0.1:{environ.get('SERVER_PORT', '')}"
        environ["PATH_INFO"] = f"/{point.backing}{environ.get('PATH_INFO', '/')}"
        raw_path = raw.split("?", 1)[0]
        rewritten = f"/{point.backing}{raw_path}" + (f"?{query}" if query else "")
        for name in ("RAW_URI", "REQUEST_URI"):
            if name in environ:
                environ[name] = rewritten
        # moto picks its backend from the signing name: s3. The signature is checked against the original.
        environ["HTTP_AUTHORIZATION"] = authorization.replace("/s3-outposts/aws4_request", "/s3/aws4_request")

        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured[:] = [status, headers, exc_info]
            return lambda _data: None  # moto returns its body; nothing writes through this

        body = b"".join(self.app(environ, capture))
        status, headers, exc_info = captured
        # Listings name the backing bucket and STANDARD: through the access point, its bucket, in OUTPOSTS.
        if body.startswith(b"<?xml") and b"<Name>" in body:
            body = body.replace(f"<Name>{point.backing}</Name>".encode(), f"<Name>{point.bucket}</Name>".encode())
            body = body.replace(b"<StorageClass>STANDARD</StorageClass>", b"<StorageClass>OUTPOSTS</StorageClass>")
        headers = [(k, v) for k, v in headers if k.lower() not in ("x-amz-storage-class", "content-length")]
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and raw_path not in ("", "/") and status[:1] == "2":
            headers.append(("x-amz-storage-class", "OUTPOSTS"))
        if environ.get("REQUEST_METHOD") != "HEAD":
            headers.append(("Content-Length", str(len(body))))
        else:
            headers += [(k, v) for k, v in captured[1] if k.lower() == "content-length"]
        start_response(status, headers, exc_info)
        return [body]


def resources_checked(point: AccessPoint, action: str, key: str | None) -> list[str]:
    """The ARNs IAM checks ``s3-outposts:ACTION`` on: every resource type the Service Authorization Reference
    marks required for it (``ListBucket``: the access point and the bucket; object actions: the object, under its
    bucket's ARN), else the object or the bucket."""
    from skyvault.permissions.iamref import iam_reference

    arns = {"accesspoint": point.arn, "bucket": point.bucket_arn, "object": f"{point.bucket_arn}/object/{key}"}
    reference = iam_reference().action(f"s3-outposts:{action}")
    required = reference.required_resource_types if reference is not None else []
    return [arns[t] for t in required if t in arns] or [arns["object" if key else "bucket"]]


def apply() -> None:
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import S3IAMRequest
    from moto.s3.responses import S3Response

    if getattr(S3Response, _MARK, False):
        return
    original = S3Response._authenticate_and_authorize_s3_action

    def authorize(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        request = getattr(self, "request", None)
        outposts = getattr(request, "environ", {}).get(ENVIRON_KEY) if request is not None else None
        if not isinstance(outposts, OutpostsRequest):
            original(self, bucket_name=bucket_name, key_name=key_name)
            return
        if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
            ActionAuthenticatorMixin.request_count += 1
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
        headers["Host"], headers["Authorization"] = outposts.host, outposts.authorization
        headers.update(outposts.removed_headers)
        iam_request = S3IAMRequest(
            account_id=self.current_account,
            method=self.method,
            path=outposts.path_and_query,
            data=self.data,
            body=self.raw_body,
            headers=headers,
            action=self._get_action(),
        )
        iam_request.check_signature()
        for resource in resources_checked(outposts.access_point, self._get_action(), key_name):
            iam_request.check_action_permitted(resource)

    setattr(S3Response, "_authenticate_and_authorize_s3_action", authorize)  # noqa: B010
    setattr(S3Response, _MARK, True)


def reset() -> None:
    with _LOCK:
        _ACCESS_POINTS.clear()
