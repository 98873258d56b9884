"""The mediation agreement (调解协议书) in the live room, plugged into the signaling service.

The mediator drafts (`agreement_open`, `agreement_edit`); everyone in the groups of the
document's audience (default: the main room) receives the text in `agreement_state`;
everyone else in the room receives the state only (draft / signing n/m / effective), never the
text. Each audience group is shown one version (`AgreementDocument.shown`): an edit made while
the mediator is in a caucus reaches that caucus only, and the other groups keep the version they
were shown until the mediator shares the text with them on purpose (`agreement_share`). When a
caucus closes it leaves the audience, so its drafts fall back to the mediator. Signatures are
requested only while every signer can read the current version, and may be withdrawn
(`agreement_withdraw`). The mediator asks for signatures (`agreement_request_signatures`); each party signs on
their own device (`agreement_sign`: the version and SHA-256 they reviewed, a confirmation tick
and a PNG of the handwritten signature). An edit voids earlier signatures. When every party has
signed the document is effective, its PDF is built, and at the end of the session it goes into
the sealed record. The same machinery carries the failed-mediation record (kind
``failure_record``, 调解不成记录 with undisputed facts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from server.agreements import documents as docs
from server.agreements import identity as idstore
from server.agreements import output
from server.agreements.models import AgreementDocument, DocStatus
from server.models import Court, SessionParticipant
from server.state import AppState, StateKey
from signaling import protocol as p
from signaling.context import RoomContext
from signaling.feature import EventHandler, RoomFeature
from signaling.identity import Identity
from signaling.live_room import LiveRoom
from signaling.protocol import SignalingError
from signaling.room import MAIN, STAFF_KINDS, Member, Presence

log = logging.getLogger(__name__)

AGREEMENTS: StateKey[AgreementFeature] = StateKey("agreements")



@dataclass
class AgreementRoomState:
    # One change to the room's documents at a time (edits, shares, signatures).
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

Kind = Literal["agreement", "failure_record"]


class KindEvent(p.Event):
    kind: Kind = "agreement"


class AgreementOpen(KindEvent):
    # Who sees the new draft; omitted: the mediator's current group (main, or the caucus
    # group the mediator is in — a draft begun in a caucus stays in that caucus).
    groups: list[p.GroupId] | None = Field(default=None, max_length=9)


class AgreementEdit(KindEvent):
    text: Annotated[str, StringConstraints(max_length=20000)]
    base_version: int = Field(ge=1)


class AgreementShare(KindEvent):
    # Groups that see the live text: "main" and/or caucus group ids. [] = the mediator only.
    groups: list[p.GroupId] = Field(max_length=9)


class AgreementSign(KindEvent):
    # The version and hash of the text on the signer's screen when they confirmed it.
    version: int = Field(ge=1)
    text_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    confirm: Literal[True]
    # data:image/png;base64,… (≤ 48 KB decoded)
    signature_png: Annotated[str, StringConstraints(min_length=20, max_length=70000)]
    # For an organisation party: the natural person signing and their capacity.
    signatory_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] = ""
    signatory_capacity: Literal["", "legal_representative", "authorised_agent"] = ""


def _error(exc: docs.AgreementError) -> SignalingError:
    return SignalingError(exc.code, exc.message)


class AgreementFeature(RoomFeature):
    name = "agreement"

    def __init__(self, state: AppState, service: RoomContext) -> None:
        self.state = state
        self.service = service

    def events(self) -> Mapping[str, EventHandler]:
        return {
            "agreement_get": (KindEvent, self.on_get),
            "agreement_open": (AgreementOpen, self.on_open),
            "agreement_edit": (AgreementEdit, self.on_edit),
            "agreement_share": (AgreementShare, self.on_share),
            "agreement_request_signatures": (KindEvent, self.on_request),
            "agreement_withdraw": (KindEvent, self.on_withdraw),
            "agreement_sign": (AgreementSign, self.on_sign),
        }

    async def check_end(self, live: LiveRoom, ev: p.EndSession) -> None:
        await self.check_outcome(live, ev)

    async def check_outcome(self, live: LiveRoom, ev: p.EndSession) -> None:
        """调解成功 / 部分达成 with an agreement drafted in the session: only once every party has
        signed it, so the record never shows a settlement nobody signed. With no agreement at
        all: refused where the court requires one, otherwise only with a written reason (it goes
        into the sealed log with the outcome)."""
        if ev.outcome.value not in ("settled", "partial"):
            return
        async with self.state.db.session() as db:
            doc = await docs.get_doc(db, live.session_id, "agreement")
            court = await db.get(Court, live.room.court_id)
        if doc is not None and doc.status == "effective":
            return
        if doc is not None:
            raise SignalingError(
                "agreement_not_effective",
                "调解协议尚未经全部当事人签署生效，请待签署后再结束，或选择“调解不成” / "
                "the agreement is not yet signed by every party",
            )
        if court is not None and court.settlement_requires_agreement:
            raise SignalingError(
                "agreement_required",
                "本院要求调解成功须有经各方签署生效的调解协议 / this court requires a signed "
                "agreement for a settlement",
            )
        if not ev.no_agreement_reason.strip():
            raise SignalingError(
                "no_agreement_reason_required",
                "本次调解未形成调解协议，请说明以何种方式达成调解（如当场履行、撤回申请） / "
                "no agreement was drafted: state how the dispute was settled",
            )

    # --- visibility -----------------------------------------------------------------------
    @staticmethod
    def reader_version(m: Member, doc: AgreementDocument) -> int | None:
        """The version of the text this member is shown (None: they see the state only)."""
        if m.presence != Presence.admitted:
            return None
        if m.kind in STAFF_KINDS:
            return doc.version
        if m.group not in doc.audience:
            return None
        shown = (doc.shown or {}).get(m.group)
        return int(shown) if shown is not None else None

    @classmethod
    def can_read(cls, m: Member, doc: AgreementDocument) -> bool:
        return cls.reader_version(m, doc) is not None

    @classmethod
    def reads_current(cls, m: Member, doc: AgreementDocument) -> bool:
        return cls.reader_version(m, doc) == doc.version

    @staticmethod
    def edit_reach(m: Member, doc: AgreementDocument) -> list[str]:
        """The groups a save by this staff member shows at once: from the main room, the whole
        audience; from a caucus, that caucus only (and only if it is in the audience)."""
        if m.group == MAIN:
            return list(doc.audience)
        return [m.group] if m.group in doc.audience else []

    @staticmethod
    def _lock(live: LiveRoom) -> asyncio.Lock:
        return live.state_of(AgreementRoomState).lock

    async def _payload(
        self,
        db: Any,
        doc: AgreementDocument,
        base: dict[str, Any],
        m: Member,
        texts: dict[int, tuple[str, str]],
    ) -> dict[str, Any]:
        """The document as this member is allowed to see it."""
        version = self.reader_version(m, doc)
        out = {k: v for k, v in base.items() if k not in ("text", "shown")}
        if version is None:
            out.update(version=None, text_sha256=None, readable=False)
        else:
            if version not in texts:
                texts[version] = await docs.version_text(db, doc, version)
            text, digest = texts[version]
            out.update(version=version, text_sha256=digest, text=text, readable=True)
        if m.kind in STAFF_KINDS:
            out["shown"] = dict(doc.shown or {})
            out["edit_reach"] = self.edit_reach(m, doc)
            out["stale_groups"] = [
                g for g in doc.audience if (doc.shown or {}).get(g, 0) < doc.version
            ]
        out["signable"] = bool(
            doc.status == "signing"
            and m.pid in doc.signers
            and version == doc.version
            and m.pid not in {s["participant_id"] for s in base["signatures"]}
        )
        return out

    async def broadcast(self, live: LiveRoom, kind: str) -> None:
        async with self.state.db.session() as db:
            doc = await docs.get_doc(db, live.session_id, kind)
            if doc is None:
                return
            base = await docs.view(db, doc, with_text=False)
            texts: dict[int, tuple[str, str]] = {}
            payloads = []
            for m in list(live.room.members.values()):
                if m.sid is None or m.presence != Presence.admitted:
                    continue
                payloads.append((m.sid, await self._payload(db, doc, base, m, texts)))
        for sid, payload in payloads:
            await self.service.emit("agreement_state", {"agreement": payload}, sid)

    # --- hooks ----------------------------------------------------------------------------
    async def on_event(
        self, live: LiveRoom, action: str, actor: str, details: dict[str, Any]
    ) -> None:
        # Moving between groups changes who may read the live text.
        if action.startswith("caucus.") or action in ("lobby.admit", "participant.join"):
            if action.startswith("caucus."):
                await self._prune_closed_groups(live)
            for kind in docs.KINDS:
                await self.broadcast(live, kind)

    async def _prune_closed_groups(self, live: LiveRoom) -> None:
        """A closed caucus leaves every audience: its drafts fall back to the mediator."""
        existing = set(live.room.groups)
        dropped: list[tuple[str, list[str], list[str]]] = []
        async with self._lock(live):
            async with self.state.db.session() as db:
                for kind in docs.KINDS:
                    doc = await docs.get_doc(db, live.session_id, kind)
                    if doc is None:
                        continue
                    gone = docs.prune_groups(doc, existing)
                    if gone:
                        dropped.append((kind, gone, list(doc.audience)))
        for kind, gone, audience in dropped:
            await self.service.log_event(
                live,
                "agreement.share",
                "system",
                kind=kind,
                groups=audience,
                reason="group_closed",
                closed_groups=gone,
            )

    async def on_end(self, live: LiveRoom, outcome: str, note: str) -> None:
        # Runs after the recording feature's on_end (added before it), i.e. after sealing.
        try:
            await output.seal_documents(self.state, live.session_id)
        except Exception:
            log.exception("adding agreement documents to the sealed record failed")

    # --- events ---------------------------------------------------------------------------
    def _live(self, ident: Identity) -> LiveRoom:
        return self.service.rooms[ident.session_id]

    async def on_get(self, sid: str, ident: Identity, ev: KindEvent) -> dict[str, Any]:
        live = self._live(ident)
        me = live.room.member(ident.participant_id)
        async with self.state.db.session() as db:
            doc = await docs.get_doc(db, live.session_id, ev.kind)
            if doc is None or me.presence != Presence.admitted:
                return {"agreement": None}
            base = await docs.view(db, doc, with_text=False)
            return {"agreement": await self._payload(db, doc, base, me, {})}

    async def on_open(self, sid: str, ident: Identity, ev: AgreementOpen) -> dict[str, Any]:
        live = self._live(ident)
        me = live.room.require_mediator(ident.participant_id)
        audience = sorted(set(ev.groups)) if ev.groups is not None else [me.group]
        if any(g not in live.room.groups for g in audience):
            raise SignalingError("unknown_group", "分组不存在 / unknown group")
        async with self._lock(live):
            async with self.state.db.session() as db:
                doc = await docs.get_doc(db, live.session_id, ev.kind)
                created = doc is None
                if doc is None:
                    doc = await docs.create_doc(
                        db, live.session_id, ev.kind, ident.actor, audience=audience
                    )
                view = await docs.view(db, doc, with_text=True)
        if created:
            await self.service.log_event(
                live, "agreement.open", ident.actor, kind=ev.kind, text_sha256=view["text_sha256"]
            )
        await self.broadcast(live, ev.kind)
        return {"agreement": view}

    async def on_edit(self, sid: str, ident: Identity, ev: AgreementEdit) -> dict[str, Any]:
        live = self._live(ident)
        me = live.room.require_mediator(ident.participant_id)
        async with self._lock(live):
            async with self.state.db.session() as db:
                doc = await self._doc(db, live, ev.kind)
                reach = self.edit_reach(me, doc)
                try:
                    voided = await docs.edit(
                        db, doc, ev.text, ev.base_version, ident.actor, reach=reach
                    )
                except docs.AgreementError as exc:
                    raise _error(exc) from exc
                version, digest = doc.version, doc.text_sha256
        voided_pids = [s.participant_id for s in voided]
        # The sealed log keeps versions and hashes, not the draft text (it may be caucus-only).
        await self.service.log_event(
            live,
            "agreement.edit",
            ident.actor,
            kind=ev.kind,
            version=version,
            text_sha256=digest,
            voided_signatures=voided_pids,
            shown_to=reach,
            editor_group=me.group,
        )
        await self.broadcast(live, ev.kind)
        return {"version": version, "text_sha256": digest, "voided": voided_pids, "reach": reach}

    async def on_share(self, sid: str, ident: Identity, ev: AgreementShare) -> dict[str, Any]:
        live = self._live(ident)
        live.room.require_mediator(ident.participant_id)
        unknown = [g for g in ev.groups if g not in live.room.groups]
        if unknown:
            raise SignalingError("unknown_group", "分组不存在 / unknown group")
        async with self._lock(live):
            async with self.state.db.session() as db:
                doc = await self._doc(db, live, ev.kind)
                audience = docs.share(doc, ev.groups)
                version = doc.version
        await self.service.log_event(
            live, "agreement.share", ident.actor, kind=ev.kind, groups=audience, version=version
        )
        await self.broadcast(live, ev.kind)
        return {"audience": audience}

    def _unable_to_read(
        self, live: LiveRoom, doc: AgreementDocument, signers: list[str]
    ) -> list[str]:
        names = []
        for pid in signers:
            m = live.room.members.get(pid)
            if m is None or not self.reads_current(m, doc):
                names.append(m.display_name if m is not None else pid)
        return names

    async def on_request(self, sid: str, ident: Identity, ev: KindEvent) -> dict[str, Any]:
        live = self._live(ident)
        live.room.require_mediator(ident.participant_id)
        async with self._lock(live):
            async with self.state.db.session() as db:
                doc = await self._doc(db, live, ev.kind)
                # A signature binds to text its signer read: ask only when every signer is
                # shown the current version.
                blind = self._unable_to_read(
                    live, doc, await docs.required_signers(db, live.session_id)
                )
                if blind:
                    raise SignalingError(
                        "signer_cannot_read",
                        f"{'、'.join(blind)} 当前看不到最新协议文本，请先向其展示后再请求签署 / "
                        f"{', '.join(blind)} cannot read the current text: share it first",
                    )
                try:
                    await docs.request_signatures(db, doc)
                except docs.AgreementError as exc:
                    raise _error(exc) from exc
                view = await docs.view(db, doc, with_text=True)
        await self.service.log_event(
            live,
            "agreement.request_signatures",
            ident.actor,
            kind=ev.kind,
            version=view["version"],
            text_sha256=view["text_sha256"],
            signers=view["signers"],
        )
        await self.broadcast(live, ev.kind)
        return {"agreement": view}

    async def on_withdraw(self, sid: str, ident: Identity, ev: KindEvent) -> dict[str, Any]:
        live = self._live(ident)
        live.room.require_mediator(ident.participant_id)
        async with self._lock(live):
            async with self.state.db.session() as db:
                doc = await self._doc(db, live, ev.kind)
                try:
                    voided = await docs.withdraw(db, doc)
                except docs.AgreementError as exc:
                    raise _error(exc) from exc
                view = await docs.view(db, doc, with_text=True)
        await self.service.log_event(
            live,
            "agreement.withdraw",
            ident.actor,
            kind=ev.kind,
            version=view["version"],
            voided_signatures=[s.participant_id for s in voided],
        )
        await self.broadcast(live, ev.kind)
        return {"agreement": view}

    async def on_sign(self, sid: str, ident: Identity, ev: AgreementSign) -> dict[str, Any]:
        live = self._live(ident)
        me = live.room.member(ident.participant_id)
        if me.presence != Presence.admitted:
            raise SignalingError("not_admitted", "请等待调解员准许进入 / wait to be admitted")
        try:
            png = docs.decode_signature(ev.signature_png)
        except docs.AgreementError as exc:
            raise _error(exc) from exc
        async with self._lock(live):
            async with self.state.db.session() as db:
                doc = await self._doc(db, live, ev.kind)
                if not self.can_read(me, doc):
                    raise SignalingError(
                        "not_visible", "您当前看不到该协议 / the document is not shown to you"
                    )
                if not self.reads_current(me, doc):
                    raise SignalingError(
                        "version_conflict",
                        "协议内容已更新，请重新阅读后签名 / the text changed: review the new "
                        "version and sign",
                    )
                participant = await db.get(SessionParticipant, me.pid)
                assert participant is not None
                identity = await idstore.load(db, live.session_id, me.pid)
                try:
                    sig = await docs.sign(
                        db,
                        doc,
                        participant=participant,
                        version=ev.version,
                        text_sha256=ev.text_sha256,
                        signature_png=png,
                        identity=identity,
                        organisation=me.organisation,
                        signatory_name=ev.signatory_name,
                        signatory_capacity=ev.signatory_capacity,
                    )
                except docs.AgreementError as exc:
                    raise _error(exc) from exc
                effective = await docs.complete_if_signed(db, doc)
                sig_facts = {
                    "version": sig.version,
                    "text_sha256": sig.text_sha256,
                    "image_sha256": sig.image_sha256,
                    "identity_verified": bool(sig.identity.get("verified")),
                }
                if sig.signatory_name:
                    sig_facts["signatory_name"] = sig.signatory_name
                    sig_facts["signatory_capacity"] = sig.signatory_capacity
            if effective:
                async with self.state.db.session() as db:
                    doc = await self._doc(db, live, ev.kind)
                    await output.build_pdf(self.state, db, doc)
                    pdf_sha = doc.pdf_sha256
        await self.service.log_event(
            live, "agreement.signed", ident.actor, participant_id=me.pid, kind=ev.kind, **sig_facts
        )
        if effective:
            await self.service.log_event(
                live,
                "agreement.effective",
                "system",
                kind=ev.kind,
                text_sha256=sig_facts["text_sha256"],
                pdf_sha256=pdf_sha,
            )
        await self.broadcast(live, ev.kind)
        return {"signed": True, "effective": effective, **sig_facts}

    async def _doc(self, db: Any, live: LiveRoom, kind: str) -> AgreementDocument:
        doc = await docs.get_doc(db, live.session_id, kind)
        if doc is None:
            raise SignalingError("no_agreement", "调解员尚未起草 / no draft yet")
        return doc


__all__ = ["AgreementFeature", "DocStatus"]
