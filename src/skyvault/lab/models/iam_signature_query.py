"""Model: IAM enforcement verifies SigV4 signatures of requests whose query string holds reserved characters.

Real AWS canonicalises the query string (each name and value percent-encoded, only ``A-Z a-z 0-9 - _ . ~`` left
as is) before checking the signature, so ``ListObjectsV2?prefix=lib%2Flocks%2F`` verifies. moto 5.2.1 rebuilds
the request from the already-decoded URL and lets botocore canonicalise that as-is, so ``/`` (and ``:``, ``=``,
``+``...) in a query value make it compute a different signature and answer ``SignatureDoesNotMatch``; S3 listings
under a prefix, EBS direct ``GetSnapshotBlock`` and ``CompleteSnapshot`` fail only when IAM is enforced.

This model re-encodes the rebuilt request's query string the way SigV4 does before moto signs it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

_MARK = "_skyvault_signature_query_model"


def canonical_query(query: str) -> str:
    """Each name and value percent-encoded exactly once, as SigV4 canonicalisation expects (order kept)."""
    pairs = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, sep, value = pair.partition("=")
        encoded = quote(unquote(name), safe="-_.~") + sep + quote(unquote(value), safe="-_.~")
        pairs.append(encoded)
    return "&".join(pairs)


def apply() -> None:
    from moto.iam.access_control import IAMRequestBase

    if getattr(IAMRequestBase, _MARK, False):
        return
    original = IAMRequestBase._create_aws_request

    def _create_aws_request(self: Any) -> Any:
        request = original(self)
        path, sep, query = (request.url or "").partition("?")
        if sep:
            request.url = f"{path}?{canonical_query(query)}"
        return request

    setattr(IAMRequestBase, "_create_aws_request", _create_aws_request)  # noqa: B010
    setattr(IAMRequestBase, _MARK, True)
