"""Referral worklists, partnerships, webhook subscriptions and the webhook outbox.

`ReferralHandler` is one more handler of the projection worker: it writes these tables in the
same transaction as the tracking position, so a worklist row and the outbox rows for a step are
committed together, exactly once. The tables have their own metadata, so `yyhub rebuild`
(which drops the elder tables) never drops the outbox: a rebuild finds each delivery already
there under its idempotency key and does not send it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from event_store.readmodel import Tables
from event_store.sql import upsert, utc_naive
from hub.partnerships import Partnership, WebhookSubscription
from hub.projections import referral as referral_fold
from hub.referrals import REQUESTED, Referral, ReferralDesk
from hub.values import plain

log = logging.getLogger("yyhub.referrals")

DELIVERY_NAMESPACE = uuid5(NAMESPACE_URL, "urn:yyhub:webhook-delivery")
PENDING, DELIVERED, PARKED = "pending", "delivered", "parked"


@dataclass
class ReferralTables:
    """The referral side of the read model, beside the elder tables of the same prefix."""

    metadata: sa.MetaData
    referral: sa.Table
    partnership: sa.Table
    subscription: sa.Table
    outbox: sa.Table


def define_referral_tables(prefix: str = "rm_") -> ReferralTables:
    md = sa.MetaData()
    referral = sa.Table(
        f"{prefix}referral", md,
        sa.Column("referral_id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(100), nullable=False),
        sa.Column("elder_id", sa.String(36), nullable=False, index=True),
        sa.Column("elder_name", sa.String(200), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("parent_id", sa.String(36)),
        sa.Column("return_id", sa.String(36)),
        sa.Column("from_organisation", sa.String(200), nullable=False, index=True),
        sa.Column("to_organisation", sa.String(200), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("urgency", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("awaited", sa.String(20), nullable=False),
        sa.Column("due_at", sa.DateTime),
        sa.Column("expires_at", sa.DateTime),
        sa.Column("overdue", sa.Boolean, nullable=False),
        sa.Column("requested_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("document", sa.JSON, nullable=False))
    partnership = sa.Table(
        f"{prefix}partnership", md,
        sa.Column("partnership_id", sa.String(36), primary_key=True),
        sa.Column("care_organisation", sa.String(200), nullable=False, index=True),
        sa.Column("medical_organisation", sa.String(200), nullable=False, index=True),
        sa.Column("services", sa.JSON, nullable=False),
        sa.Column("valid_from", sa.String(10)),
        sa.Column("valid_until", sa.String(10)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False))
    subscription = sa.Table(
        f"{prefix}webhook_subscription", md,
        sa.Column("subscription_id", sa.String(36), primary_key=True),
        sa.Column("organisation", sa.String(200), nullable=False, index=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("since", sa.BigInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False))
    outbox = sa.Table(
        f"{prefix}webhook_outbox", md,
        sa.Column("delivery_id", sa.String(36), primary_key=True),  # the idempotency key
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False, index=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("referral_id", sa.String(36), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("delivered_at", sa.DateTime),
        sa.Column("leased_until", sa.DateTime),
        sa.Index(f"{prefix}webhook_outbox_due", "status", "next_attempt_at"))
    return ReferralTables(md, referral, partnership, subscription, outbox)


def delivery_id(subscription_id: str, position: int) -> str:
    """One delivery per subscriber per logged event: the receiver's idempotency key."""
    return str(uuid5(DELIVERY_NAMESPACE, f"{subscription_id}|{position}"))


class ReferralHandler:
    """Folds referral, partnership and subscription events into their tables and the outbox."""

    def __init__(self, tables: ReferralTables):
        self.rt = tables

    def handle(self, conn: Connection, tables: Tables, batch: list[tuple[int, Any]]) -> None:
        relevant = [(p, e) for p, e in batch if isinstance(
            e, Referral.Event | Partnership.Event | WebhookSubscription.Event)]
        if not relevant:
            return
        rt = self.rt
        subscribers = self._subscriptions(conn)
        views: dict[str, dict[str, Any]] = {}
        partnerships: dict[str, dict[str, Any]] = {}
        outbox: list[dict[str, Any]] = []
        for position, event in relevant:
            key = str(event.originator_id)
            if isinstance(event, WebhookSubscription.Event):
                row = subscribers.setdefault(key, {"subscription_id": key, "active": True})
                if isinstance(event, WebhookSubscription.Subscribed):
                    row.update(organisation=event.organisation, url=event.url, active=True,
                               since=position)
                else:
                    row["active"] = False
                row["position"] = position
                continue
            if isinstance(event, Partnership.Event):
                self._partnership(conn, partnerships, key, position, event)
                continue
            view = views.get(key) or self._held(conn, key)
            if view is None and not isinstance(event, Referral.Requested):
                log.warning("referral event for unknown referral %s; skipped", key)
                continue
            view = referral_fold.apply(view or {}, event)
            view["position"] = position
            if isinstance(event, Referral.Requested):
                view["elder_name"] = self._elder_name(conn, tables, view["elder_id"])
            views[key] = view
            outbox.extend(self._deliveries(subscribers, view, event, position))
        upsert(conn, rt.subscription, [
            {k: s[k] for k in ("subscription_id", "organisation", "url", "active", "since",
                               "position")}
            for s in subscribers.values() if "position" in s], ["subscription_id"])
        upsert(conn, rt.partnership, list(partnerships.values()), ["partnership_id"])
        upsert(conn, rt.referral, [self._row(v) for v in views.values()], ["referral_id"])
        # Both parties to a referral have a care relationship with the elder (access rules).
        upsert(conn, tables.relationship, [
            {"elder_id": str(v["elder_id"]), "organisation": org, "kind": "referral",
             "valid_from": None, "valid_to": None}
            for v in views.values()
            for org in {v.get("from_organisation"), v.get("to_organisation")} if org],
            ["elder_id", "organisation", "kind"], update=False)
        upsert(conn, rt.outbox, outbox, ["delivery_id"], update=False)

    def _held(self, conn: Connection, key: str) -> dict[str, Any] | None:
        return conn.execute(sa.select(self.rt.referral.c.document).where(
            self.rt.referral.c.referral_id == key)).scalar()

    @staticmethod
    def _elder_name(conn: Connection, tables: Tables, elder_id: str) -> str:
        name = conn.execute(sa.select(tables.profile.c.name).where(
            tables.profile.c.elder_id == elder_id)).scalar()
        return name or ""

    def _subscriptions(self, conn: Connection) -> dict[str, dict[str, Any]]:
        s = self.rt.subscription
        return {row.subscription_id: {"subscription_id": row.subscription_id,
                                      "organisation": row.organisation, "url": row.url,
                                      "active": row.active, "since": row.since}
                for row in conn.execute(sa.select(s))}

    def _partnership(self, conn: Connection, held: dict[str, dict[str, Any]], key: str,
                     position: int, event: Any) -> None:
        if isinstance(event, Partnership.Signed):
            held[key] = {"partnership_id": key, "care_organisation": event.care_organisation,
                         "medical_organisation": event.medical_organisation,
                         "services": list(event.services),
                         "valid_from": plain(event.valid_from),
                         "valid_until": plain(event.valid_until), "active": True,
                         "position": position}
            return
        row = held.get(key)
        if row is None:
            found = conn.execute(sa.select(self.rt.partnership).where(
                self.rt.partnership.c.partnership_id == key)).first()
            if found is None:
                return
            row = held[key] = dict(found._mapping)
        row.update(active=False, position=position)

    @staticmethod
    def _deliveries(subscribers: dict[str, dict[str, Any]], view: dict[str, Any], event: Any,
                    position: int) -> list[dict[str, Any]]:
        parties = {view["from_organisation"], view["to_organisation"]} - {""}
        step = view["history"][-1]["step"]
        at = utc_naive(event.timestamp)
        payload = {
            "event": f"referral.{step}", "position": position,
            "referral_id": view["referral_id"], "number": view["number"],
            "direction": view["direction"], "status": view["status"],
            "from_organisation": view["from_organisation"],
            "to_organisation": view["to_organisation"], "elder_id": view["elder_id"],
            "parent_id": view.get("parent_id"), "return_id": view.get("return_id"),
            "overdue": view["overdue"], "due_at": view["due_at"],
            "at": view["history"][-1].get("at") or plain(event.timestamp),
        }
        return [{"delivery_id": delivery_id(s["subscription_id"], position),
                 "subscription_id": s["subscription_id"], "organisation": s["organisation"],
                 "url": s["url"], "event_type": payload["event"],
                 "referral_id": view["referral_id"], "position": position,
                 "payload": {**payload, "delivery_id": delivery_id(s["subscription_id"],
                                                                   position)},
                 "status": PENDING, "attempts": 0, "next_attempt_at": at, "last_error": "",
                 "created_at": at, "delivered_at": None, "leased_until": None}
                for s in subscribers.values()
                # Only subscribers who were there when it happened: a rebuild adds no one late.
                if s.get("active") and s.get("organisation") in parties
                and s.get("since", 0) < position]

    @staticmethod
    def _row(view: dict[str, Any]) -> dict[str, Any]:
        return {
            "referral_id": view["referral_id"], "number": view["number"],
            "elder_id": view["elder_id"], "elder_name": view.get("elder_name", ""),
            "direction": view["direction"], "parent_id": view.get("parent_id"),
            "return_id": view.get("return_id"), "from_organisation": view["from_organisation"],
            "to_organisation": view["to_organisation"], "status": view["status"],
            "urgency": view["urgency"], "reason": view["reason"], "awaited": view["awaited"],
            "due_at": utc_naive(view["due_at"]), "expires_at": utc_naive(view["expires_at"])
            if view["status"] == REQUESTED else None,
            "overdue": view["overdue"], "requested_at": utc_naive(view["requested_at"]),
            "updated_at": utc_naive(view["updated_at"]), "position": view["position"],
            "document": view}


WORKLIST_COLUMNS = ("referral_id", "number", "elder_id", "elder_name", "direction", "parent_id",
                    "return_id", "from_organisation", "to_organisation", "status", "urgency",
                    "reason", "awaited", "due_at", "overdue", "requested_at", "updated_at",
                    "position")


def _iso(value: Any) -> Any:
    return value.isoformat() + "Z" if isinstance(value, datetime) else value


class ReferralViews:
    """Queries over the referral tables; never replays aggregates."""

    def __init__(self, engine: Engine, tables: ReferralTables):
        self.engine = engine
        self.t = tables

    def create(self) -> None:
        self.t.metadata.create_all(self.engine)

    def referral(self, referral_id: str) -> dict[str, Any] | None:
        t = self.t.referral
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.document, t.c.elder_name).where(
                t.c.referral_id == referral_id)).first()
        if row is None:
            return None
        return {**row.document, "elder_name": row.elder_name}

    def worklist(self, organisation: str, direction: str, status: list[str] | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
        """Referrals coming in to or going out of an organisation, overdue first, then by due time.

        Referrals sent without a destination (to the city platform) are in every other
        organisation's incoming list until someone accepts them.
        """
        t = self.t.referral
        if direction == "out":
            where = t.c.from_organisation == organisation
        else:
            where = sa.or_(t.c.to_organisation == organisation,
                           sa.and_(t.c.to_organisation == "", t.c.status == REQUESTED,
                                   t.c.from_organisation != organisation))
        query = sa.select(*(t.c[c] for c in WORKLIST_COLUMNS)).where(where)
        if status:
            query = query.where(t.c.status.in_(status))
        query = query.order_by(t.c.overdue.desc(), t.c.due_at.is_(None), t.c.due_at,
                               t.c.updated_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [{k: _iso(v) for k, v in row._mapping.items()} for row in conn.execute(query)]

    def due(self, now: datetime) -> list[str]:
        """Referrals whose open deadline or expiry has passed and is not yet marked."""
        t = self.t.referral
        at = utc_naive(now)
        query = sa.select(t.c.referral_id).where(sa.or_(
            sa.and_(t.c.due_at <= at, t.c.overdue.is_(False), t.c.awaited != ""),
            t.c.expires_at <= at)).order_by(t.c.due_at)
        with self.engine.connect() as conn:
            return [r.referral_id for r in conn.execute(query)]

    def partners(self, organisation: str) -> list[dict[str, Any]]:
        p = self.t.partnership
        query = sa.select(p).where(sa.or_(p.c.care_organisation == organisation,
                                          p.c.medical_organisation == organisation))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(p.c.position))]

    def destinations(self, organisation: str) -> list[dict[str, Any]]:
        """Where an organisation can send an elder: partnered first, then where others send."""
        found: list[dict[str, Any]] = []
        for p in self.partners(organisation):
            other = (p["medical_organisation"] if p["care_organisation"] == organisation
                     else p["care_organisation"])
            if p["active"] and other not in {f["organisation"] for f in found}:
                found.append({"organisation": other, "partnered": True,
                              "services": p["services"], "referrals": 0})
        t = self.t.referral
        counts = (sa.select(t.c.to_organisation, sa.func.count().label("n"))
                  .where(t.c.to_organisation != "", t.c.to_organisation != organisation,
                         t.c.direction == "up")
                  .group_by(t.c.to_organisation).order_by(sa.desc("n"), t.c.to_organisation))
        with self.engine.connect() as conn:
            rows = conn.execute(counts).all()
        index = {f["organisation"]: f for f in found}
        for row in rows:
            if row.to_organisation in index:
                index[row.to_organisation]["referrals"] = row.n
            else:
                found.append({"organisation": row.to_organisation, "partnered": False,
                              "services": [], "referrals": row.n})
        return found

    def subscriptions(self, organisation: str | None = None) -> list[dict[str, Any]]:
        s = self.t.subscription
        query = sa.select(s).where(s.c.active.is_(True))
        if organisation:
            query = query.where(s.c.organisation == organisation)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(s.c.position))]

    def deliveries(self, status: str | None = None, organisation: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
        o = self.t.outbox
        query = sa.select(o)
        if status:
            query = query.where(o.c.status == status)
        if organisation:
            query = query.where(o.c.organisation == organisation)
        with self.engine.connect() as conn:
            return [{k: _iso(v) for k, v in r._mapping.items()}
                    for r in conn.execute(query.order_by(o.c.position).limit(limit))]

    # --- the outbox, for the dispatcher --------------------------------------------------------

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        o = self.t.outbox
        # A delivery never tried is due at once, whatever the clock says of its event's time.
        query = (sa.select(o).where(o.c.status == PENDING,
                                    sa.or_(o.c.attempts == 0,
                                           o.c.next_attempt_at <= utc_naive(now)))
                 .order_by(o.c.position, o.c.delivery_id).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def lease(self, delivery: str, now: datetime, until: datetime) -> bool:
        """Claim a delivery for one dispatcher until `until`; False if another holds it.

        Every API process may run a dispatcher; the lease keeps them from sending the same
        delivery at the same moment (the idempotency key covers a lease that ran out).
        """
        o = self.t.outbox
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(o).where(
                o.c.delivery_id == delivery, o.c.status == PENDING,
                sa.or_(o.c.leased_until.is_(None), o.c.leased_until < utc_naive(now)))
                .values(leased_until=utc_naive(until)))
        return bool(done.rowcount)

    def mark_delivered(self, delivery: str, attempts: int, now: datetime) -> None:
        self._update(delivery, status=DELIVERED, attempts=attempts, last_error="",
                     delivered_at=utc_naive(now), leased_until=None)

    def mark_failed(self, delivery: str, attempts: int, error: str, retry_at: datetime,
                    parked: bool) -> None:
        self._update(delivery, status=PARKED if parked else PENDING, attempts=attempts,
                     last_error=error[:2000], next_attempt_at=utc_naive(retry_at),
                     leased_until=None)

    def requeue(self, delivery: str, now: datetime) -> bool:
        """Send a parked delivery again (after the receiver is fixed)."""
        o = self.t.outbox
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(o).where(o.c.delivery_id == delivery,
                                                   o.c.status == PARKED)
                                .values(status=PENDING, attempts=0,
                                        next_attempt_at=utc_naive(now)))
        return bool(done.rowcount)

    def _update(self, delivery: str, **values: Any) -> None:
        o = self.t.outbox
        with self.engine.begin() as conn:
            conn.execute(sa.update(o).where(o.c.delivery_id == delivery).values(**values))


@dataclass(frozen=True)
class DeadlinePass:
    """What one deadline pass did."""

    overdue: tuple[UUID, ...]
    expired: tuple[UUID, ...]


def run_deadlines(desk: ReferralDesk, views: ReferralViews, catch_up: Any = None) -> DeadlinePass:
    """Mark overdue and expire what the clock says is late.

    The worklist only nominates candidates; each is decided on its aggregate, so a referral
    accepted a moment ago is never expired from a stale row.
    """
    if catch_up is not None:
        catch_up()
    overdue, expired = [], []
    for referral_id in views.due(desk.clock.now()):
        outcome = desk.enforce_deadlines(UUID(referral_id))
        if outcome == "overdue":
            overdue.append(UUID(referral_id))
        elif outcome == "expired":
            expired.append(UUID(referral_id))
    return DeadlinePass(tuple(overdue), tuple(expired))


def retry_after(attempts: int, base: timedelta) -> timedelta:
    """Backoff between dispatcher passes for one delivery: base, 2×, 4× ... capped at one hour."""
    return min(base * (2 ** max(attempts - 1, 0)), timedelta(hours=1))
