"""What the session's event log says happened: presence, identity, admission and outcome.

Every document the court files (the agreement PDF, the 调解笔录, the sealed manifest, the
judicial-confirmation package) states these facts only as this module derives them from the log
(the audit rows the signaling service writes for every room event, which the sealed event log
mirrors). A document never infers them from configuration or from who was invited: a terminal
that was scheduled but never joined took no part, and a party who was not checked is not
"verified".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.models import AuditEvent


@dataclass(slots=True)
class IdentityFact:
    """How a participant's identity stands in the log (the last verification wins)."""

    verified: bool = False
    method: str = ""  # online_visual / in_person_terminal
    verifier: str = ""
    verified_at: datetime | None = None
    id_masked: str = ""
    # Set when the mediator admitted the party unverified with a written reason.
    override_reason: str = ""
    override_by: str = ""
    override_at: datetime | None = None


@dataclass(slots=True)
class SessionFacts:
    session_id: str
    # Participants who were in the room (admitted, or staff / terminal who joined), in order.
    present: list[str] = field(default_factory=list)
    # Participant -> actor who joined for them ("party:<pid>" own link, "terminal:<id>", …).
    joined_via: dict[str, str] = field(default_factory=dict)
    admitted_at: dict[str, datetime] = field(default_factory=dict)
    admitted_by: dict[str, str] = field(default_factory=dict)
    identity: dict[str, IdentityFact] = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str = ""
    outcome_note: str = ""
    no_agreement_reason: str = ""

    def took_part(self, pid: str) -> bool:
        return pid in self.present

    def identity_of(self, pid: str) -> IdentityFact:
        return self.identity.get(pid) or IdentityFact()

    def identity_checked(self, pid: str) -> bool:
        return self.identity_of(pid).verified

    def identity_line(self, pid: str) -> str:
        """The one sentence a document may print about this party's identity."""
        ident = self.identity_of(pid)
        if ident.verified:
            label = METHOD_LABELS.get(ident.method, ident.method)
            return f"{label} · {ident.verifier}".rstrip(" ·")
        if ident.override_reason:
            return f"身份未核验（调解员书面准入：{ident.override_reason}）"
        return "身份未核验"


METHOD_LABELS = {
    "online_visual": "线上核验",
    "in_person_terminal": "终端现场核验",
}


def _add(facts: SessionFacts, pid: str) -> None:
    if pid and pid not in facts.present:
        facts.present.append(pid)


def derive(session_id: str, events: list[AuditEvent]) -> SessionFacts:
    """Pure: the facts of one session from its audit rows in log order."""
    facts = SessionFacts(session_id)
    for ev in events:
        d: dict[str, Any] = ev.details or {}
        pid = str(d.get("participant_id") or "")
        action = ev.action
        if action == "participant.join" and pid:
            facts.joined_via.setdefault(pid, ev.actor)
            if d.get("presence") == "admitted":
                _add(facts, pid)
        elif action == "lobby.admit" and pid:
            _add(facts, pid)
            facts.admitted_at[pid] = ev.at
            facts.admitted_by[pid] = ev.actor
        elif action == "identity.verified" and pid:
            ident = facts.identity.setdefault(pid, IdentityFact())
            ident.verified = True
            ident.method = str(d.get("method") or "")
            ident.verifier = str(d.get("verifier") or "")
            ident.verified_at = ev.at
            ident.id_masked = str(d.get("id_masked") or "")
        elif action == "identity.override" and pid:
            ident = facts.identity.setdefault(pid, IdentityFact())
            reason = str(d.get("reason") or "").strip()
            if reason:
                ident.override_reason = reason
                ident.override_by = ev.actor
                ident.override_at = ev.at
        elif action == "identity.purged" and pid:
            facts.identity.pop(pid, None)
        elif action == "session.start":
            facts.started_at = facts.started_at or ev.at
        elif action == "session.end":
            facts.ended_at = ev.at
            facts.outcome = str(d.get("outcome") or "")
            facts.outcome_note = str(d.get("note") or "")
            facts.no_agreement_reason = str(d.get("no_agreement_reason") or "")
    return facts


async def session_facts(db: AsyncSession, session_id: str) -> SessionFacts:
    rows = await db.scalars(
        select(AuditEvent).where(AuditEvent.session_id == session_id).order_by(AuditEvent.id)
    )
    return derive(session_id, list(rows))
