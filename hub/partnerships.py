"""Cooperation agreements (医养签约) between a care organisation and a medical one, and the
webhook subscriptions through which organisations hear about their referrals."""

from __future__ import annotations

from datetime import date, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from hub.clock import Clock
from hub.errors import HubError

PARTNERSHIP_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:partnership")
SUBSCRIPTION_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:webhook-subscription")


class Partnership(Aggregate):
    """A signed agreement: the care home refers to the hospital first, the hospital takes it back.

    The pair names the agreement, so registering it twice collides in the store.
    """

    @staticmethod
    def create_id(care_organisation: str, medical_organisation: str) -> UUID:
        return uuid5(PARTNERSHIP_NAMESPACE, f"{care_organisation}|{medical_organisation}")

    @event("Signed")
    def __init__(self, care_organisation: str, medical_organisation: str,
                 services: tuple[str, ...], valid_from: date | None, valid_until: date | None,
                 signed_at: datetime, registered_by: str):
        self.care_organisation = care_organisation
        self.medical_organisation = medical_organisation
        self.ended = False

    @event("Ended")
    def end(self, reason: str, at: datetime) -> None:
        self.ended = True


class WebhookSubscription(Aggregate):
    """An organisation asks to be told, at a URL, of every change to referrals it is party to."""

    @staticmethod
    def create_id(organisation: str, url: str) -> UUID:
        return uuid5(SUBSCRIPTION_NAMESPACE, f"{organisation}|{url}")

    @event("Subscribed")
    def __init__(self, organisation: str, url: str, at: datetime):
        self.organisation = organisation
        self.url = url
        self.active = True

    @event("Unsubscribed")
    def unsubscribe(self, at: datetime) -> None:
        self.active = False


class PartnershipExists(HubError):
    """Raised when the same cooperation agreement is registered a second time."""


class InvalidSubscription(HubError):
    """Raised when a webhook URL is not an http(s) URL."""


def sign_partnership(app: Application[UUID], clock: Clock, *, care_organisation: str,
                     medical_organisation: str, services: tuple[str, ...] = (),
                     valid_from: date | None = None, valid_until: date | None = None,
                     registered_by: str = "") -> tuple[UUID, int]:
    """Register an agreement; the store refuses the same pair twice."""
    if care_organisation == medical_organisation:
        raise PartnershipExists("an organisation cannot partner with itself")
    partnership = Partnership(care_organisation=care_organisation,
                              medical_organisation=medical_organisation,
                              services=tuple(services), valid_from=valid_from,
                              valid_until=valid_until, signed_at=clock.now(),
                              registered_by=registered_by)
    try:
        recordings = app.save(partnership)
    except IntegrityError as error:
        raise PartnershipExists(f"{care_organisation} and {medical_organisation} already have "
                                "an agreement") from error
    return partnership.id, recordings[-1].notification.id


def subscribe(app: Application[UUID], clock: Clock, organisation: str,
              url: str) -> tuple[UUID, int | None]:
    """Subscribe an organisation's URL; subscribing again is answered with the same subscription."""
    if not url.startswith(("http://", "https://")):
        raise InvalidSubscription("a webhook URL starts with http:// or https://")
    subscription = WebhookSubscription(organisation=organisation, url=url, at=clock.now())
    try:
        recordings = app.save(subscription)
    except IntegrityError:
        return subscription.id, None
    return subscription.id, recordings[-1].notification.id
