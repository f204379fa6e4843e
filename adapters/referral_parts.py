"""The referral parts of a running hub, built by the composition root from settings and a clock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from adapters.settings import Settings
from adapters.webhooks import DispatchPass, WebhookDispatcher, WebhookPolicy
from event_store.referral_store import (
    DeadlinePass,
    ReferralHandler,
    ReferralViews,
    define_referral_tables,
    run_deadlines,
)
from hub.clock import Clock
from hub.referrals import ROUTINE, URGENT, DeadlinePolicy, ReferralDesk

log = logging.getLogger("yyhub.referrals")


def deadline_policy(settings: Settings) -> DeadlinePolicy:
    return DeadlinePolicy(
        accept_within={URGENT: timedelta(hours=settings.referral_accept_urgent_hours),
                       ROUTINE: timedelta(hours=settings.referral_accept_routine_hours)},
        expire_after={URGENT: timedelta(hours=settings.referral_expire_urgent_hours),
                      ROUTINE: timedelta(hours=settings.referral_expire_routine_hours)},
        receive_within=timedelta(hours=settings.referral_receive_return_hours),
        follow_up_within=timedelta(days=settings.referral_follow_up_days))


def webhook_policy(settings: Settings) -> WebhookPolicy:
    return WebhookPolicy(attempts_per_pass=settings.webhook_attempts_per_pass,
                         max_attempts=settings.webhook_max_attempts,
                         retry_wait_seconds=settings.webhook_retry_wait_seconds,
                         pass_backoff=timedelta(seconds=settings.webhook_backoff_seconds),
                         timeout_seconds=settings.webhook_timeout_seconds)


@dataclass
class ReferralParts:
    """The desk (commands), the views (worklists), the webhook dispatcher and their clock."""

    desk: ReferralDesk
    views: ReferralViews
    webhooks: WebhookDispatcher
    handler: ReferralHandler
    clock: Clock
    pass_seconds: float
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def run_deadlines(self, catch_up: Callable[[], Any] | None = None) -> DeadlinePass:
        """One deadline pass: mark overdue and expire what is late by the clock."""
        return run_deadlines(self.desk, self.views, catch_up)

    def deliver(self) -> DispatchPass:
        """One webhook pass over the outbox."""
        return self.webhooks.deliver_due()

    def start(self, catch_up: Callable[[], Any]) -> None:
        """Run deadline and webhook passes in the background (for `serve`)."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.run_deadlines(catch_up)
                    catch_up()
                    self.deliver()
                except Exception:  # a background pass must outlive a bad moment
                    log.exception("referral pass failed; retrying")
                self._stop.wait(self.pass_seconds)

        self._thread = threading.Thread(target=loop, name="referral-passes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def build_referral_parts(app: Any, engine: Engine, settings: Settings,
                         clock: Clock) -> ReferralParts:
    views = ReferralViews(engine, define_referral_tables(settings.read_model_prefix))
    views.create()
    return ReferralParts(
        desk=ReferralDesk(app, clock, deadline_policy(settings)), views=views,
        webhooks=WebhookDispatcher(views, clock, webhook_policy(settings)),
        handler=ReferralHandler(views.t), clock=clock,
        pass_seconds=settings.referral_pass_seconds)
