"""The listing's read-ahead: pages in order, at most ``ahead`` requested early, errors raised to the caller, and a
caller that stops reading stops the thread."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator

import pytest

from skyvault.services.s3.backup import read_ahead

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_pages_in_order_in_the_callers_context_and_bounded() -> None:
    requested: list[int] = []
    contexts: list[str] = []

    def pages() -> Iterator[int]:
        for n in range(50):
            requested.append(n)
            contexts.append(WHO.get())
            yield n

    WHO.set("the job")
    seen = []
    for page in read_ahead(pages(), ahead=2):
        time.sleep(0.001)
        assert len(requested) <= page + 1 + 2 + 1  # this page, two queued, one in the producer's hand
        seen.append(page)
    assert seen == list(range(50)) and set(contexts) == {"the job"}


def test_an_error_reaches_the_caller_after_the_pages_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("listing failed")

    seen = []
    with pytest.raises(RuntimeError, match="listing failed"):
        for page in read_ahead(pages()):
            seen.append(page)
    assert seen == [1, 2]


def test_a_caller_that_stops_stops_the_thread() -> None:
    produced: list[int] = []

    def pages() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    before = threading.active_count()
    reader = read_ahead(pages(), ahead=2)
    assert next(reader) == 0
    reader.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before and len(produced) <= 5
