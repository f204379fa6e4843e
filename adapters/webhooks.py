"""Delivers the webhook outbox: at least once, with an idempotency key, parked if it keeps failing.

Each pass takes the due deliveries in log order. A delivery is tried a few times at once
(bounded tenacity retries); if it still fails it waits for a later pass with backoff, and after
`max_attempts` in all it is parked: kept, visible in `GET /webhooks/deliveries?status=parked`,
and sent again only when asked. A subscriber whose delivery failed gets nothing newer in the same
pass, so each receiver sees its events in order.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tenacity import (
    RetryError,
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from event_store.referral_store import ReferralViews, retry_after
from hub.clock import Clock

log = logging.getLogger("yyhub.webhooks")


class DeliveryFailed(Exception):
    """Raised when a receiver does not answer 2xx (or cannot be reached)."""


@dataclass(frozen=True)
class WebhookPolicy:
    """How hard to try: attempts per pass, in all before parking, and the waits between."""

    attempts_per_pass: int = 3
    max_attempts: int = 10
    retry_wait_seconds: float = 0.5
    pass_backoff: timedelta = timedelta(seconds=30)
    timeout_seconds: float = 5.0


@dataclass(frozen=True)
class DispatchPass:
    """What one pass did."""

    delivered: int
    failed: int
    parked: int


def post_json(url: str, payload: dict[str, Any], key: str, timeout: float) -> None:
    """POST one event; anything but 2xx is a failure."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key,
        "User-Agent": "yyhub-webhooks/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            if not 200 <= answer.status < 300:
                raise DeliveryFailed(f"HTTP {answer.status}")
    except urllib.error.HTTPError as error:
        raise DeliveryFailed(f"HTTP {error.code}") from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise DeliveryFailed(str(error)) from error


class WebhookDispatcher:
    """Sends what the outbox holds, recording each outcome on its row."""

    def __init__(self, views: ReferralViews, clock: Clock, policy: WebhookPolicy | None = None):
        self.views = views
        self.clock = clock
        self.policy = policy or WebhookPolicy()
        p = self.policy
        # Long enough for every try of one pass, with its waits.
        self._lease_time = timedelta(seconds=p.attempts_per_pass * (p.timeout_seconds
                                                                     + p.retry_wait_seconds * 8)
                                     + 60)

    def deliver_due(self, limit: int = 200) -> DispatchPass:
        delivered = failed = parked = 0
        blocked: set[str] = set()
        for row in self.views.due_deliveries(self.clock.now(), limit):
            if row["subscription_id"] in blocked:
                continue
            now = self.clock.now()
            if not self.views.lease(row["delivery_id"], now, now + self._lease_time):
                blocked.add(row["subscription_id"])  # another dispatcher is on it
                continue
            tries = 0

            def attempt(row: dict[str, Any] = row) -> None:
                nonlocal tries
                tries += 1
                post_json(row["url"], row["payload"], row["delivery_id"],
                          self.policy.timeout_seconds)

            remaining = self.policy.max_attempts - row["attempts"]
            try:
                Retrying(
                    retry=retry_if_exception_type(DeliveryFailed),
                    stop=stop_after_attempt(max(1, min(self.policy.attempts_per_pass,
                                                       remaining))),
                    wait=wait_exponential(multiplier=self.policy.retry_wait_seconds,
                                          max=self.policy.retry_wait_seconds * 8),
                    before_sleep=before_sleep_log(log, logging.WARNING),
                )(attempt)
            except RetryError as error:
                attempts = row["attempts"] + tries
                park = attempts >= self.policy.max_attempts
                reason = str(error.last_attempt.exception())
                self.views.mark_failed(
                    row["delivery_id"], attempts, reason,
                    self.clock.now() + retry_after(attempts, self.policy.pass_backoff), park)
                blocked.add(row["subscription_id"])
                failed += 1
                parked += park
                log.warning("webhook %s to %s failed %d times (%s)%s", row["delivery_id"],
                            row["url"], attempts, reason, "; parked" if park else "")
                continue
            self.views.mark_delivered(row["delivery_id"], row["attempts"] + tries,
                                      self.clock.now())
            delivered += 1
        return DispatchPass(delivered, failed, parked)
