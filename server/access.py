"""Which cases and sessions a member of the court's staff may see: the one visibility rule.

Judges and clerks see their court's cases and sessions; a mediator only the cases assigned to
them and the sessions they mediate or that belong to those cases. Everything that lists or
loads cases, sessions, recordings, transcripts or intakes for staff starts from these queries,
so the rule cannot drift between the HTTP routes, the archive and the court network.
"""

from __future__ import annotations

from sqlalchemy import Select, or_, select

from server.models import Case, MediationSession, User, UserRole

# Who may read a court's cases and sessions (a mediator: only those visible_cases allows), and
# who may create and change them.
CASE_READERS = (UserRole.judge, UserRole.clerk, UserRole.mediator)
CASE_WRITERS = (UserRole.judge, UserRole.clerk)


def visible_cases(user: User) -> Select[Case]:
    """Judges and clerks see the court's cases; a mediator only the cases assigned to them."""
    stmt = select(Case).where(Case.court_id == user.court_id)
    if user.role == UserRole.mediator:
        mediated = select(MediationSession.case_id).where(MediationSession.mediator_id == user.id)
        stmt = stmt.where(or_(Case.mediator_id == user.id, Case.id.in_(mediated)))
    return stmt


def visible_sessions(user: User) -> Select[MediationSession]:
    """The court's sessions; a mediator's: those they mediate and those of their cases."""
    stmt = select(MediationSession).where(MediationSession.court_id == user.court_id)
    if user.role == UserRole.mediator:
        cases = visible_cases(user).with_only_columns(Case.id)
        stmt = stmt.where(
            (MediationSession.mediator_id == user.id) | MediationSession.case_id.in_(cases)
        )
    return stmt
