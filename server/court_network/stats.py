"""Governance statistics (社会治理), computed only from what is on record: intake transitions,
and for cases mediated without an intake, the case and its sessions' outcomes.

Definitions (also in docs/network.md):
- a dispute is an intake, or a case without an intake that a session ended with an outcome
  (each case once, by its latest outcome);
- a dispute belongs to the local year/month (the court's time zone, `Court.timezone`) of its
  `received` transition (a case without an intake: its creation);
- a closure belongs to the year of its closing transition (settled, partially_settled, failed,
  withdrawn — all final; a case without an intake: its latest session's end);
- success rate and days to close follow the selected definition (`DEFINITIONS`): `all_closed`
  (default) settled ÷ all closed including withdrawn, days over all closures; `mediated`
  settled ÷ (settled + partially_settled + failed), days over those; None when the
  denominator is 0; median: the middle value (mean of the two middle ones for an even count); p90: nearest-rank,
  the value at rank ⌈0.9·n⌉ of the sorted values;
- lawsuits of an area = intakes of the area closed as failed (调解不成, transferred to litigation)
  in the year; per 10,000 residents = count ÷ population × 10,000 where population is set;
- year-on-year: previous = the same figure for the year before; change = value − previous;
  change_ratio = change ÷ previous (None when previous is 0 or None).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.court_network.models import (
    Area,
    Intake,
    IntakeTransition,
    SharedCourt,
    SharedCourtTerminal,
)
from server.court_network.schemas import (
    AreaStats,
    DefinitionOut,
    GroupStats,
    Metric,
    MonthStats,
    StatsOut,
)
from server.models import CASE_TYPE_NAMES, Case, CaseType, MediationSession, SessionStatus
from server.zones import zone_of

CLOSING = ("settled", "partially_settled", "failed", "withdrawn")
MEDIATED = ("settled", "partially_settled", "failed")
SESSION_OUTCOMES = {"settled": "settled", "partial": "partially_settled", "failed": "failed"}

# What "success rate" and "days to close" count: a documented, selectable choice (setting
# `stats_definition`, or `?definition=` per request), shown next to the figures and exported.
DEFINITIONS: dict[str, DefinitionOut] = {
    "all_closed": DefinitionOut(
        key="all_closed",
        success_rate="调解成功率 = 调解成功 ÷ 全部结案（含部分达成、调解不成、撤回） / "
        "success rate = settled ÷ all closed, withdrawn included",
        days_to_close="结案用时：全部结案（含撤回），自受理至结案 / "
        "days to close: every closure, withdrawn included, from receipt to closure",
        disputes="纠纷数：受理的调解申请，及未经申请、经调解会议结案的案件（每案一次） / "
        "disputes: intakes received, and cases without an intake closed by a session "
        "(each case once)",
    ),
    "mediated": DefinitionOut(
        key="mediated",
        success_rate="调解成功率 = 调解成功 ÷（调解成功 + 部分达成 + 调解不成），不含撤回 / "
        "success rate = settled ÷ (settled + partially settled + failed), withdrawn left out",
        days_to_close="结案用时：调解结案（不含撤回），自受理至结案 / "
        "days to close: closures by mediation (withdrawn left out), from receipt to closure",
        disputes="纠纷数：受理的调解申请，及未经申请、经调解会议结案的案件（每案一次） / "
        "disputes: intakes received, and cases without an intake closed by a session "
        "(each case once)",
    ),
}
DEFAULT_DEFINITION = "all_closed"


def counted(definition: str) -> tuple[str, ...]:
    """The closing statuses that success rate and days to close count under a definition."""
    return CLOSING if definition == "all_closed" else MEDIATED


@dataclass
class Fact:
    case_type: str
    shared_court_id: str | None
    area_id: str | None
    received: datetime | None
    closed: datetime | None
    outcome: str | None


def local_year(at: datetime, zone: ZoneInfo) -> int:
    return at.astimezone(zone).year


def local_month(at: datetime, zone: ZoneInfo) -> int:
    return at.astimezone(zone).month


def median(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[max(1, math.ceil(0.9 * len(v))) - 1]


def metric(value: float | None, previous: float | None) -> Metric:
    change = None if value is None or previous is None else value - previous
    ratio = None if change is None or not previous else change / previous
    return Metric(value=value, previous=previous, change=change, change_ratio=ratio)


async def load_facts(db: AsyncSession, court_id: str, shared_court_id: str | None) -> list[Fact]:
    stmt = select(Intake.id, Intake.case_type, Intake.shared_court_id, Intake.area_id).where(
        Intake.court_id == court_id
    )
    if shared_court_id is not None:
        stmt = stmt.where(Intake.shared_court_id == shared_court_id)
    intakes = {row[0]: row for row in await db.execute(stmt)}
    firsts: dict[str, datetime] = {}
    closes: dict[str, tuple[datetime, str]] = {}
    trans = await db.execute(
        select(IntakeTransition.intake_id, IntakeTransition.to_status, IntakeTransition.at)
        .join(Intake, Intake.id == IntakeTransition.intake_id)
        .where(Intake.court_id == court_id)
        .order_by(IntakeTransition.at, IntakeTransition.id)
    )
    for iid, to, at in trans:
        if iid not in intakes:
            continue
        if to == "received" and iid not in firsts:
            firsts[iid] = at
        elif to in CLOSING:
            closes[iid] = (at, to)
    out = await _session_facts(db, court_id, shared_court_id)
    for iid, (_, ctype, scid, aid) in intakes.items():
        close = closes.get(iid)
        out.append(
            Fact(
                case_type=CaseType(ctype).value,
                shared_court_id=scid,
                area_id=aid,
                received=firsts.get(iid),
                closed=close[0] if close else None,
                outcome=close[1] if close else None,
            )
        )
    return out


async def _session_facts(
    db: AsyncSession, court_id: str, shared_court_id: str | None
) -> list[Fact]:
    """Cases without an intake that a session ended with an outcome: received when the case was
    created, closed by its latest ended session (its outcome), at the shared court of that
    session's terminal (if any)."""
    rows = await db.execute(
        select(
            Case.id,
            Case.case_type,
            Case.created_at,
            MediationSession.ended_at,
            MediationSession.outcome,
            MediationSession.terminal_id,
        )
        .join(MediationSession, MediationSession.case_id == Case.id)
        .outerjoin(Intake, Intake.case_id == Case.id)
        .where(
            Case.court_id == court_id,
            Intake.id.is_(None),
            MediationSession.status == SessionStatus.ended,
            MediationSession.outcome.is_not(None),
            MediationSession.ended_at.is_not(None),
        )
        .order_by(MediationSession.ended_at)
    )
    latest: dict[str, tuple[CaseType, datetime, datetime, str, str | None]] = {}
    for case_id, ctype, created, ended, outcome, terminal_id in rows.all():
        if ended is not None and outcome is not None:  # both filtered in SQL; for the types
            latest[case_id] = (ctype, created, ended, SESSION_OUTCOMES[outcome.value], terminal_id)
    terminals = {
        t: sc
        for t, sc in await db.execute(
            select(SharedCourtTerminal.terminal_id, SharedCourtTerminal.shared_court_id)
        )
    }
    areas = {
        c.id: c.area_id
        for c in await db.scalars(select(SharedCourt).where(SharedCourt.court_id == court_id))
    }
    out = []
    for ctype, created, ended, closing, terminal_id in latest.values():
        scid = terminals.get(terminal_id) if terminal_id else None
        if shared_court_id is not None and scid != shared_court_id:
            continue
        out.append(
            Fact(
                case_type=CaseType(ctype).value,
                shared_court_id=scid,
                area_id=areas.get(scid) if scid else None,
                received=created,
                closed=ended,
                outcome=closing,
            )
        )
    return out


@dataclass
class Counts:
    disputes: int = 0
    settled: int = 0
    partial: int = 0
    failed: int = 0
    withdrawn: int = 0

    @property
    def closed(self) -> int:
        return self.settled + self.partial + self.failed + self.withdrawn

    def success_rate(self, definition: str = DEFAULT_DEFINITION) -> float | None:
        denom = self.settled + self.partial + self.failed
        if definition == "all_closed":
            denom += self.withdrawn
        return self.settled / denom if denom else None


def count(
    facts: Iterable[Fact], year: int, month: int | None = None, *, zone: ZoneInfo
) -> Counts:
    c = Counts()
    for f in facts:
        if (
            f.received is not None
            and local_year(f.received, zone) == year
            and (month is None or local_month(f.received, zone) == month)
        ):
            c.disputes += 1
        if (
            f.closed is not None
            and local_year(f.closed, zone) == year
            and (month is None or local_month(f.closed, zone) == month)
        ):
            if f.outcome == "settled":
                c.settled += 1
            elif f.outcome == "partially_settled":
                c.partial += 1
            elif f.outcome == "failed":
                c.failed += 1
            elif f.outcome == "withdrawn":
                c.withdrawn += 1
    return c


def durations(
    facts: Iterable[Fact], year: int, definition: str = DEFAULT_DEFINITION, *, zone: ZoneInfo
) -> list[float]:
    statuses = counted(definition)
    return [
        (f.closed - f.received).total_seconds() / 86400
        for f in facts
        if f.closed is not None
        and f.received is not None
        and f.outcome in statuses
        and local_year(f.closed, zone) == year
    ]


def _group(
    facts: list[Fact],
    key: Callable[[Fact], str | None],
    year: int,
    keys: Iterable[str],
    zone: ZoneInfo,
) -> dict[str, tuple[Counts, Counts]]:
    out: dict[str, tuple[Counts, Counts]] = {}
    for k in keys:
        sub = [f for f in facts if key(f) == k]
        out[k] = (count(sub, year, zone=zone), count(sub, year - 1, zone=zone))
    return out


def _gs(k: str, label: str, cur: Counts, prev: Counts, definition: str) -> GroupStats:
    return GroupStats(
        key=k,
        label=label,
        disputes=metric(cur.disputes, prev.disputes),
        settled=metric(cur.settled, prev.settled),
        success_rate=metric(cur.success_rate(definition), prev.success_rate(definition)),
    )


def _per10k(n: int, population: int | None) -> float | None:
    return n / population * 10000 if population else None


async def compute(
    db: AsyncSession,
    court_id: str,
    year: int,
    shared_court_id: str | None = None,
    definition: str = DEFAULT_DEFINITION,
) -> StatsOut:
    d = definition
    # The network is the court's: its years and months are that court's local ones.
    zone = await zone_of(db, court_id)
    facts = await load_facts(db, court_id, shared_court_id)
    cur, prev = count(facts, year, zone=zone), count(facts, year - 1, zone=zone)
    d_cur, d_prev = durations(facts, year, d, zone=zone), durations(facts, year - 1, d, zone=zone)
    courts = {
        c.id: c.name
        for c in await db.scalars(select(SharedCourt).where(SharedCourt.court_id == court_id))
    }
    areas = {a.id: a for a in await db.scalars(select(Area).where(Area.court_id == court_id))}
    by_type = [
        _gs(k, CASE_TYPE_NAMES[CaseType(k)], *v, d)
        for k, v in _group(
            facts, lambda f: f.case_type, year, [t.value for t in CaseType], zone
        ).items()
    ]
    sc_keys = sorted({f.shared_court_id or "" for f in facts} | set(courts))
    by_court = [
        _gs(k or "-", courts.get(k, "(无共享法庭 / none)"), *v, d)
        for k, v in _group(facts, lambda f: f.shared_court_id or "", year, sc_keys, zone).items()
    ]
    by_area = []
    for k, (c, p) in _group(facts, lambda f: f.area_id, year, sorted(areas), zone).items():
        area = areas[k]
        base = _gs(k, area.name, c, p, d)
        by_area.append(
            AreaStats(
                **base.model_dump(),
                population=area.population,
                disputes_per_10k=metric(
                    _per10k(c.disputes, area.population), _per10k(p.disputes, area.population)
                ),
                lawsuits=metric(c.failed, p.failed),
                lawsuits_per_10k=metric(
                    _per10k(c.failed, area.population), _per10k(p.failed, area.population)
                ),
            )
        )
    by_month = []
    for m in range(1, 13):
        mc, mp = count(facts, year, m, zone=zone), count(facts, year - 1, m, zone=zone)
        by_month.append(
            MonthStats(
                month=m,
                disputes=metric(mc.disputes, mp.disputes),
                settled=metric(mc.settled, mp.settled),
            )
        )
    return StatsOut(
        year=year,
        court_id=court_id,
        shared_court_id=shared_court_id,
        disputes=metric(cur.disputes, prev.disputes),
        closed=metric(cur.closed, prev.closed),
        settled=metric(cur.settled, prev.settled),
        partially_settled=metric(cur.partial, prev.partial),
        failed=metric(cur.failed, prev.failed),
        withdrawn=metric(cur.withdrawn, prev.withdrawn),
        success_rate=metric(cur.success_rate(d), prev.success_rate(d)),
        median_days=metric(median(d_cur), median(d_prev)),
        p90_days=metric(p90(d_cur), p90(d_prev)),
        by_type=by_type,
        by_shared_court=by_court,
        by_area=by_area,
        by_month=by_month,
        definition=DEFINITIONS[d],
    )


HEADER = ["section", "key", "label", "metric", "value", "previous", "change", "change_ratio"]


def rows(stats: StatsOut) -> list[list[object]]:
    out: list[list[object]] = []

    def add(section: str, key: str, label: str, name: str, m: Metric) -> None:
        out.append(
            [section, key, label, name]
            + [_round(v) for v in (m.value, m.previous, m.change, m.change_ratio)]
        )

    # The definition travels with the figures (a reader of the file sees what was counted).
    for name in ("success_rate", "days_to_close", "disputes"):
        text = getattr(stats.definition, name)
        out.append(["definition", stats.definition.key, text, name, None, None, None, None])

    for name in (
        "disputes",
        "closed",
        "settled",
        "partially_settled",
        "failed",
        "withdrawn",
        "success_rate",
        "median_days",
        "p90_days",
    ):
        add("summary", str(stats.year), "", name, getattr(stats, name))
    for section, groups in (("by_type", stats.by_type), ("by_shared_court", stats.by_shared_court)):
        for g in groups:
            for name in ("disputes", "settled", "success_rate"):
                add(section, g.key, g.label, name, getattr(g, name))
    for a in stats.by_area:
        for name in (
            "disputes",
            "settled",
            "success_rate",
            "disputes_per_10k",
            "lawsuits",
            "lawsuits_per_10k",
        ):
            add("by_area", a.key, a.label, name, getattr(a, name))
    for mo in stats.by_month:
        add("by_month", f"{stats.year}-{mo.month:02d}", "", "disputes", mo.disputes)
        add("by_month", f"{stats.year}-{mo.month:02d}", "", "settled", mo.settled)
    return out


def _round(v: int | float | None) -> int | float | None:
    """Exports show two decimals for every fraction (rates, days, per 10,000, ratios)."""
    return round(v, 2) if isinstance(v, float) else v


# Leading characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
# Labels are shared-court and area names typed by users, so "=HYPERLINK(...)" must stay text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _formula_like(v: object) -> bool:
    # Only text: a negative change (-2) is a number and must stay one. A lone trigger has
    # nothing to evaluate, and "-" is the key of the no-shared-court row, kept as it was.
    return isinstance(v, str) and len(v) > 1 and v.startswith(FORMULA_TRIGGERS)


def _csv_cell(v: object) -> object:
    if v is None:
        return ""
    return "'" + v if isinstance(v, str) and _formula_like(v) else v


def to_csv(stats: StatsOut) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    for r in rows(stats):
        w.writerow([_csv_cell(v) for v in r])
    # BOM: Excel opens UTF-8 CSV with Chinese labels correctly.
    return ("\ufeff" + buf.getvalue()).encode()


def to_xlsx(stats: StatsOut) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = Workbook()
    first = True
    all_rows = rows(stats)
    for section in ("summary", "by_type", "by_shared_court", "by_area", "by_month", "definition"):
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = section
        ws.append(HEADER)
        for r in all_rows:
            if r[0] != section:
                continue
            # openpyxl refuses control characters (a name may hold one): drop them rather than
            # fail the whole export.
            ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in r])
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str):
                    # openpyxl stores any text starting with "=" as a formula, and "#N/A" as an
                    # error: keep every text cell a string, shown exactly as entered. The quote
                    # prefix keeps it text if someone edits the cell in Excel later.
                    cell.data_type = "s"
                    if _formula_like(cell.value):
                        cell.quotePrefix = True
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
