"""Bounded, logged retries for transient database errors (a restart, a dropped connection)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy.exc
from eventsourcing.persistence import InterfaceError, OperationalError
from tenacity import (
    RetryCallState,
    before_sleep_log,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

log = logging.getLogger("yyhub.retry")
T = TypeVar("T")

RETRIES = {"count": 0}  # transient database errors retried by this process (for /metrics)


def _count_and_log(retry_state: RetryCallState) -> None:
    RETRIES["count"] += 1
    _log_before_sleep(retry_state)


_log_before_sleep = before_sleep_log(log, logging.WARNING)

TRANSIENT = (OperationalError, InterfaceError, sqlalchemy.exc.OperationalError,
             sqlalchemy.exc.InterfaceError)


def transient_retry(attempts: int = 5, max_wait: float = 2.0, max_delay: float = 10.0
                    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Retry a database call a few times with backoff; every retry is logged. Bounded in
    attempts and in time, so a caller waiting on the answer hears "not committed" while it is
    still listening (see docs/operations.md)."""
    return retry(
        retry=retry_if_exception_type(TRANSIENT),
        stop=stop_after_attempt(attempts) | stop_after_delay(max_delay),
        wait=wait_exponential(multiplier=0.05, max=max_wait),
        before_sleep=_count_and_log,
        reraise=True,
    )
