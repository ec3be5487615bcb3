"""Bounded retries with exponential backoff, for transient failures only.

A refused or timed-out connection and a Delta concurrent-commit conflict
are worth another try; a data error is not, and fails at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_TRANSIENT = re.compile(
    r"connection refused|could not connect|timed out|timeout expired|connection reset"
    r"|server closed the connection|too many connections|database is locked"
    r"|ConcurrentAppendException|ConcurrentDeleteReadException|ConcurrentDeleteDeleteException"
    r"|ConcurrentTransactionException|ProtocolChangedException|MetadataChangedException"
    r"|SQLTransientConnectionException|java\.net\.ConnectException|SocketTimeoutException",
    re.IGNORECASE,
)


def is_transient(error: BaseException) -> bool:
    text = f"{type(error).__name__}: {error} {getattr(error, 'orig', '')}"
    return bool(_TRANSIENT.search(text))


def retrying(
    action: Callable[[], T],
    *,
    what: str,
    attempts: int = 4,
    base_delay: float = 1.0,
    on_retry: Callable[[str], None] = lambda msg: None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `action`; on a transient error wait 1, 2, 4... seconds and try again,
    at most `attempts` times in all, reporting each retry through `on_retry`."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            delay = base_delay * 2 ** (attempt - 1)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            on_retry(f"retry {attempt}/{attempts - 1} of {what} in {delay:.0f}s: {first[:200]}")
            sleep(delay)
    raise AssertionError("unreachable")
