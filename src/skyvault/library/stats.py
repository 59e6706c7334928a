"""``library stats``: logical vs stored bytes, deduplication and compression ratios."""

from __future__ import annotations

from typing import Any

from skyvault.library.format import DATA
from skyvault.library.references import snapshot_refs
from skyvault.library.repository import Repository


def library_stats(repo: Repository) -> dict[str, Any]:
    index = repo.index
    manifests = repo.snapshots()
    logical = 0
    logical_nonzero = 0
    referenced: set[bytes] = set()
    for manifest in manifests:
        refs = snapshot_refs(repo, manifest)
        logical += manifest.size
        logical_nonzero += refs.nonzero_bytes
        referenced.update(refs.blob_ids())
    unique_raw = 0
    for blob_id in referenced:
        entry = index.get(blob_id)
        if entry is not None:
            unique_raw += entry.raw_length
    stored = sum(size for _, size in repo.backend.list(DATA))
    return {
        "location": repo.backend.location,
        "library_id": repo.config.id,
        "snapshots": len(manifests),
        "packs": len(index.packs),
        "blobs": len(index),
        "logical_bytes": logical,
        "logical_nonzero_bytes": logical_nonzero,
        "unique_bytes": unique_raw,
        "stored_bytes": stored,
        "dedup_ratio": round(logical_nonzero / unique_raw, 3) if unique_raw else None,
        "compression_ratio": round(unique_raw / stored, 3) if stored else None,
        "total_ratio": round(logical / stored, 3) if stored else None,
    }
