"""REF^I12 in: the message and the patient's facts are recorded, then the referral is requested;
answered with RRI^I12 when the sender asks for an application response (MSH-16 AL/SU), else ACK.

Every other message goes to the HL7 intake it wraps. A resent REF^I12 finds its first record and
its referral (the referral number under the sender names it), so it creates nothing twice; a
crash between the two saves is mended by the resend, which requests the missing referral.
"""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.hl7v2.ack import build_ack, escape
from adapters.hl7v2.intake import Hl7Answer, Hl7Intake
from adapters.referral_parts import ReferralParts
from event_store.projector import Projector
from event_store.readmodel import ReadModel
from hub.application import Receipt
from hub.inbound import Envelope
from hub.referrals import DuplicateReferral, InvalidReferral, handover_packet
from hub.values import Problem
from mappings.errors import MappingError, UnreadableMessage
from mappings.hl7v2 import adt, er7
from mappings.hl7v2.ref import STATUS_0283, referral_from_ref_i12


class ReferralHl7Intake(Hl7Intake):
    """The HL7 intake, with REF^I12 turned into referral requests."""

    def __init__(self, inner: Hl7Intake, referrals: ReferralParts, read_model: ReadModel,
                 projector: Projector):
        super().__init__(inner.app, inner.local_zone, inner._record, inner._record_many)
        self.inner = inner
        self.referrals = referrals
        self.read_model = read_model
        self.projector = projector

    def receive_many(self, raws: list[bytes], channel: str,
                     allowed_facilities: set[str] | None = None) -> list[Hl7Answer]:
        """Messages that arrived together: saved together, unless one is a referral request,
        which goes through the referral desk on its own."""
        if any(b"REF^I12" in raw[:400] for raw in raws):
            return [self.receive(raw, channel, allowed_facilities) for raw in raws]
        return self.inner.receive_many(raws, channel, allowed_facilities)

    def receive(self, raw: bytes, channel: str,
                allowed_facilities: set[str] | None = None) -> Hl7Answer:
        try:
            message, warnings = er7.read(raw)
        except UnreadableMessage:
            return self.inner.receive(raw, channel, allowed_facilities)
        msh = message.first("MSH")
        if adt.message_type(message) != ("REF", "I12") or (
                allowed_facilities is not None
                and message.get(msh, 4, 1) not in allowed_facilities):
            return self.inner.receive(raw, channel, allowed_facilities)
        envelope = Envelope(
            sender=f"{message.get(msh, 3, 1)}^{message.get(msh, 4, 1)}", channel=channel,
            raw=raw, received_at=datetime.now(UTC), control_id=message.get(msh, 10),
            message_type="REF^I12")
        try:
            parsed = referral_from_ref_i12(message, self.local_zone)
        except MappingError as error:
            receipt = self._record(envelope, None, tuple(warnings) + error.problems)
            return self._answer_ref(receipt, message, "AE", None)
        receipt = self._record(envelope, parsed.patient, tuple(warnings))
        if not receipt.stored:
            return self._answer_ref(receipt, message, "AE", None)
        sender = parsed.patient.organisation
        elder_id = receipt.elder_ids[0]
        self.projector.wait_for(receipt.position or 0)
        packet = handover_packet(self.read_model.profile(str(elder_id)) or {},
                                 self.referrals.clock.now())
        try:
            result = self.referrals.desk.request(elder_id, sender, parsed.form, packet)
            status = result.status
        except DuplicateReferral as duplicate:
            status = self.app.repository.get(duplicate.referral_id).status
        except InvalidReferral as error:
            problem = Problem("required-field-missing", str(error), "RF1[1]-6")
            return self._answer_ref(Receipt(receipt.message_id, "rejected", "rejected",
                                            (problem,)), message, "AE", None)
        rf1 = message.first("RF1")
        # RF1-3 and RF1-6 are echoed as sent (still escaped), so the sender finds its own values.
        referral = (status, message.get(rf1, 2, 1), rf1.field(3) if rf1 else "",
                    rf1.field(6) if rf1 else "") if parsed.wants_response else None
        return self._answer_ref(receipt, message, "AA", referral)

    def _answer_ref(self, receipt: Receipt, message: er7.Er7Message, code: str,
                    referral: tuple[str, str, str, str] | None) -> Hl7Answer:
        msh = message.first("MSH")
        version = message.get(msh, 12, 1)
        if referral is None:
            ack = build_ack(code, control_id=message.get(msh, 10), version=version,
                            sending_application=message.get(msh, 3, 1),
                            sending_facility=message.get(msh, 4, 1), trigger="I12",
                            charset=message.get(msh, 18), problems=receipt.problems)
            return Hl7Answer(receipt, ack, code)
        status, priority, kind, number = referral
        segments = [
            "|".join(["MSH", "^~\\&", "YYHUB", "YIYANG-HUB", escape(message.get(msh, 3, 1)),
                      escape(message.get(msh, 4, 1)), datetime.now().strftime("%Y%m%d%H%M%S"),
                      "", "RRI^I12^RRI_I12", receipt.message_id.hex[:20], "P",
                      version or "2.5", "", "", "", "", "CHN", message.get(msh, 18)]),
            f"MSA|{code}|{escape(message.get(msh, 10))}",
            f"RF1|{STATUS_0283.get(status, 'P')}|{priority}|{kind}|||{number}",
        ]
        return Hl7Answer(receipt, "\r".join(segments) + "\r", code)
