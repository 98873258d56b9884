"""Governance statistics on a seeded data set; the expected figures are computed here, by
plain independent arithmetic over the seed list, not by server.court_network.stats."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.court_network.models import Intake, IntakeChannel, IntakeStatus, IntakeTransition
from server.models import Case, CaseType
from server.state import STATE_KEY
from tests.api.world import create_case, create_session, ok_json
from tests.conftest import Harness
from tests.court_network.net import end_in_room, mediator_token
from tests.support.waiting import eventually

CST = timedelta(hours=8)

# (case type, shared court key, received (local, UTC+8), closed (local) or None, final status)
SEED: list[tuple[str, str, str, str | None, str]] = [
    # 2025
    ("marriage_family", "village", "2025-01-10 09:00", "2025-01-20 09:00", "settled"),
    ("marriage_family", "village", "2025-02-01 10:00", "2025-03-03 10:00", "failed"),
    ("labour", "marriage", "2025-03-05 08:00", "2025-03-08 20:00", "settled"),
    ("finance_insurance", "village2", "2025-07-01 12:00", "2025-07-02 12:00", "withdrawn"),
    (
        "property_management",
        "village2",
        "2025-11-30 12:00",
        "2026-01-09 12:00",
        "partially_settled",
    ),
    # 2026 — the first is 2025-12-31 20:00 UTC, i.e. 2026-01-01 04:00 local: a 2026 dispute
    ("marriage_family", "village", "2026-01-01 04:00", "2026-01-05 04:00", "settled"),
    ("marriage_family", "village", "2026-01-15 09:00", "2026-02-14 09:00", "settled"),
    ("marriage_family", "marriage", "2026-02-02 09:00", "2026-02-04 21:00", "failed"),
    ("labour", "marriage", "2026-02-20 09:00", "2026-03-22 09:00", "settled"),
    ("labour", "village2", "2026-03-01 09:00", "2026-03-11 09:00", "failed"),
    ("finance_insurance", "village", "2026-03-15 09:00", "2026-03-16 09:00", "settled"),
    ("finance_insurance", "marriage", "2026-04-01 09:00", None, "mediating"),
    ("property_management", "village2", "2026-05-05 09:00", "2026-05-06 09:00", "withdrawn"),
    ("neighbour", "none", "2026-06-06 09:00", "2026-08-15 09:00", "settled"),
    ("neighbour", "village", "2026-12-31 23:00", None, "received"),  # 2026 locally
]
COURT_AREA = {"village": "east", "village2": "east", "marriage": "west", "none": None}
POP = {"east": 20000, "west": 50000}


def utc(local: str) -> datetime:
    return datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=UTC) - CST


def year_of(local: str) -> int:
    return int(local[:4])


def expected(year: int, definition: str = "all_closed") -> dict[str, Any]:
    """Figures computed from SEED by hand. `all_closed` (the default): success rate = settled ÷
    all closed, withdrawn included, and days over all closures; `mediated`: withdrawn left out
    of both."""
    def received_in(r: tuple[str, str, str, str | None, str]) -> bool:
        return year_of(r[2]) == year

    def closed_in(r: tuple[str, str, str, str | None, str], status: str | None = None) -> bool:
        return r[3] is not None and year_of(r[3]) == year and (status is None or r[4] == status)

    settled = sum(closed_in(r, "settled") for r in SEED)
    partial = sum(closed_in(r, "partially_settled") for r in SEED)
    failed = sum(closed_in(r, "failed") for r in SEED)
    days = sorted(
        (utc(r[3]) - utc(r[2])) / timedelta(days=1)
        for r in SEED
        if r[3] is not None
        and closed_in(r)
        and (definition == "all_closed" or r[4] != "withdrawn")
    )
    withdrawn = sum(closed_in(r, "withdrawn") for r in SEED)
    n = len(days)
    return {
        "disputes": sum(received_in(r) for r in SEED),
        "closed": sum(closed_in(r) for r in SEED),
        "settled": settled,
        "failed": failed,
        "success_rate": settled
        / (settled + partial + failed + (withdrawn if definition == "all_closed" else 0)),
        "median_days": statistics.median(days),
        # nearest rank: the smallest value with at least 90 % of the values at or below it
        "p90_days": next(d for i, d in enumerate(days, 1) if i / n >= 0.9),
        "by_type": {
            t.value: sum(received_in(r) and r[0] == t.value for r in SEED) for t in CaseType
        },
        "by_month": [
            sum(received_in(r) and int(r[2][5:7]) == m for r in SEED) for m in range(1, 13)
        ],
        "area_disputes": {
            a: sum(received_in(r) and COURT_AREA[r[1]] == a for r in SEED) for a in POP
        },
        "area_lawsuits": {
            a: sum(closed_in(r, "failed") and COURT_AREA[r[1]] == a for r in SEED) for a in POP
        },
    }


async def seed(h: Harness, n: Any) -> None:
    courts = {"village": n.village, "village2": n.village2, "marriage": n.marriage, "none": None}
    areas = {"east": n.area_east, "west": n.area_west}
    order = ["received", "assigned", "mediating"]
    async with h.app[STATE_KEY].db.session() as s:
        for i, (ctype, court, rec, closed, status) in enumerate(SEED):
            case = Case(court_id=h.seed.court_a, case_number=f"SEED-{i}", case_type=CaseType(ctype))
            s.add(case)
            await s.flush()
            area = COURT_AREA[court]
            intake = Intake(
                court_id=h.seed.court_a,
                number=f"SEED{i:04d}",
                case_id=case.id,
                shared_court_id=courts[court],
                area_id=areas[area] if area else None,
                channel=IntakeChannel.staff,
                case_type=CaseType(ctype),
                applicant_name="甲",
                applicant_phone="13000000000",
                respondent_name="乙",
                status=IntakeStatus(status),
                received_at=utc(rec),
                closed_at=utc(closed) if closed else None,
            )
            s.add(intake)
            await s.flush()
            t0 = utc(rec)
            steps = (
                ["received"]
                if status == "received"
                else (
                    ["received", "withdrawn"]
                    if status == "withdrawn"
                    else order
                    if closed is None
                    else [*order, status]
                )
            )
            for k, step in enumerate(steps):
                at = t0 + timedelta(hours=k)
                if closed is not None and step == steps[-1] and k > 0:
                    at = utc(closed)
                s.add(
                    IntakeTransition(
                        intake_id=intake.id,
                        from_status=steps[k - 1] if k else None,
                        to_status=step,
                        at=at,
                        actor="seed",
                    )
                )


async def test_statistics_match_independent_computation(h2: Any) -> None:
    h, n = h2
    await seed(h, n)
    # a court B intake must not leak into court A's figures
    got = await ok_json(await n.judge.get("/api/network/stats?year=2026"))
    e, p = expected(2026), expected(2025)
    for key in ("disputes", "closed", "settled", "failed"):
        assert got[key]["value"] == e[key], key
        assert got[key]["previous"] == p[key], key
        assert got[key]["change"] == e[key] - p[key], key
    assert got["disputes"]["change_ratio"] == pytest.approx(
        (e["disputes"] - p["disputes"]) / p["disputes"]
    )
    assert got["success_rate"]["value"] == pytest.approx(e["success_rate"])
    assert got["success_rate"]["previous"] == pytest.approx(p["success_rate"])
    assert got["median_days"]["value"] == pytest.approx(e["median_days"])
    assert got["median_days"]["previous"] == pytest.approx(p["median_days"])
    assert got["p90_days"]["value"] == pytest.approx(e["p90_days"])
    assert got["p90_days"]["previous"] == pytest.approx(p["p90_days"])
    by_type = {g["key"]: g for g in got["by_type"]}
    for t, count in e["by_type"].items():
        assert by_type[t]["disputes"]["value"] == count, t
        assert by_type[t]["disputes"]["previous"] == p["by_type"][t], t
    assert [m["disputes"]["value"] for m in got["by_month"]] == e["by_month"]
    assert [m["disputes"]["previous"] for m in got["by_month"]] == p["by_month"]
    areas = {a["key"]: a for a in got["by_area"]}
    for name, aid in (("east", n.area_east), ("west", n.area_west)):
        a = areas[aid]
        assert a["population"] == POP[name]
        assert a["disputes"]["value"] == e["area_disputes"][name]
        assert a["disputes_per_10k"]["value"] == pytest.approx(
            e["area_disputes"][name] * 10000 / POP[name]
        )
        assert a["disputes_per_10k"]["previous"] == pytest.approx(
            p["area_disputes"][name] * 10000 / POP[name]
        )
        assert a["lawsuits"]["value"] == e["area_lawsuits"][name]
        assert a["lawsuits_per_10k"]["value"] == pytest.approx(
            e["area_lawsuits"][name] * 10000 / POP[name]
        )
        assert a["lawsuits_per_10k"]["previous"] == pytest.approx(
            p["area_lawsuits"][name] * 10000 / POP[name]
        )
    # hand-checked anchors, in case the independent formulas above and the code share a bug
    assert e["disputes"] == 10 and p["disputes"] == 5
    assert e["by_month"][0] == 2  # the 31 December 20:00 UTC dispute counts in January 2026
    # an area without population has no rate
    await ok_json(
        await n.admin.patch(f"/api/network/areas/{n.area_west}", json={"population": None})
    )
    got = await ok_json(await n.judge.get("/api/network/stats?year=2026"))
    west = next(a for a in got["by_area"] if a["key"] == n.area_west)
    assert west["disputes_per_10k"]["value"] is None
    # court B sees none of it
    jb = await h.login("judge_b")
    other = await ok_json(await jb.get("/api/network/stats?year=2026"))
    assert other["disputes"]["value"] == 0
    # mediators don't get governance statistics; bad year → 400
    med = await h.login("mediator_a")
    assert (await med.get("/api/network/stats?year=2026")).status == 403
    assert (await n.judge.get("/api/network/stats?year=abc")).status == 400


async def test_exports_csv_and_xlsx(h2: Any) -> None:
    h, n = h2
    await seed(h, n)
    resp = await n.clerk.get("/api/network/stats.csv?year=2026")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    text = (await resp.read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    summary = {r["metric"]: r for r in rows if r["section"] == "summary"}
    assert int(summary["disputes"]["value"]) == expected(2026)["disputes"]
    assert int(summary["disputes"]["previous"]) == expected(2025)["disputes"]
    resp = await n.clerk.get("/api/network/stats.xlsx?year=2026")
    assert resp.status == 200
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(await resp.read()))
    assert wb.sheetnames == [
        "summary",
        "by_type",
        "by_shared_court",
        "by_area",
        "by_month",
        "definition",
    ]
    ws = wb["summary"]
    values = {r[3]: r[4] for r in ws.iter_rows(min_row=2, values_only=True)}
    assert values["disputes"] == expected(2026)["disputes"]
    # every fraction two decimals, in both exports
    assert values["success_rate"] == round(expected(2026)["success_rate"], 2)
    assert values["median_days"] == round(expected(2026)["median_days"], 2)
    assert summary["success_rate"]["value"] == str(round(expected(2026)["success_rate"], 2))
    for r in rows:
        for col in ("value", "previous", "change", "change_ratio"):
            if "." in r[col]:
                assert len(r[col].split(".")[1]) <= 2, (r, col)
    # case types in Chinese with the key alongside
    by_type = {r["key"]: r["label"] for r in rows if r["section"] == "by_type"}
    assert by_type["marriage_family"] == "婚姻家庭纠纷" and by_type["labour"] == "劳动争议"
    # and the definition the figures follow
    definition = {r["metric"]: r for r in rows if r["section"] == "definition"}
    assert definition["success_rate"]["key"] == "all_closed"
    assert "含" in definition["success_rate"]["label"] and "撤回" in definition["success_rate"]["label"]
    assert [r[3] for r in wb["definition"].iter_rows(min_row=2, values_only=True)] == [
        "success_rate",
        "days_to_close",
        "disputes",
    ]


async def test_the_definition_is_selectable_and_shown(h2: Any) -> None:
    """Success rate and days to close by either definition, per request and by setting; the
    default counts withdrawn intakes among the closed (docs/network.md says why)."""
    h, n = h2
    await seed(h, n)
    for definition in ("all_closed", "mediated"):
        got = await ok_json(
            await n.judge.get(f"/api/network/stats?year=2026&definition={definition}")
        )
        e, p = expected(2026, definition), expected(2025, definition)
        assert got["definition"]["key"] == definition
        assert got["success_rate"]["value"] == pytest.approx(e["success_rate"]), definition
        assert got["success_rate"]["previous"] == pytest.approx(p["success_rate"]), definition
        assert got["median_days"]["value"] == pytest.approx(e["median_days"]), definition
        assert got["p90_days"]["value"] == pytest.approx(e["p90_days"]), definition
    # the two differ on this data set (it has withdrawn intakes), so the test can tell them apart
    assert expected(2026)["success_rate"] != expected(2026, "mediated")["success_rate"]
    default = await ok_json(await n.judge.get("/api/network/stats?year=2026"))
    assert default["definition"]["key"] == "all_closed"
    assert "撤回" in default["definition"]["success_rate"]
    h.app[STATE_KEY].settings.stats_definition = "mediated"
    by_setting = await ok_json(await n.judge.get("/api/network/stats?year=2026"))
    assert by_setting["definition"]["key"] == "mediated"
    assert by_setting["success_rate"]["value"] == pytest.approx(
        expected(2026, "mediated")["success_rate"]
    )
    bad = await n.judge.get("/api/network/stats?year=2026&definition=nice")
    assert bad.status == 400


async def test_cases_mediated_in_sessions_without_an_intake_count(h2: Any) -> None:
    """The reported bug: three sessions ended with outcomes, and the statistics showed 0
    disputes because they counted intakes only. A case without an intake counts once, by its
    latest outcome, at the shared court of the session's terminal."""
    h, n = h2
    u = h.seed.users
    year = (datetime.now(UTC) + timedelta(hours=8)).year
    before = await ok_json(await n.judge.get(f"/api/network/stats?year={year}"))
    first = await create_case(n.clerk, mediator_id=u["judge_a"])
    second = await create_case(n.clerk, mediator_id=u["judge_a"])
    # the first case: a failed session, then a second session that settles it (counted once)
    s1 = await create_session(n.clerk, first["id"], u["judge_a"], terminal_id=n.terminal_id)
    await end_in_room(h, await mediator_token(n.clerk, s1), "failed")
    s2 = await create_session(n.clerk, first["id"], u["judge_a"], terminal_id=n.terminal_id)
    await end_in_room(h, await mediator_token(n.clerk, s2), "settled")
    # the second: one session, 部分达成, without a terminal
    s3 = await create_session(n.clerk, second["id"], u["judge_a"])
    await end_in_room(h, await mediator_token(n.clerk, s3), "partial")
    await wait_ended(h, [s1["id"], s2["id"], s3["id"]])
    got = await ok_json(await n.judge.get(f"/api/network/stats?year={year}"))
    delta = {k: got[k]["value"] - before[k]["value"] for k in ("disputes", "closed", "settled")}
    assert delta == {"disputes": 2, "closed": 2, "settled": 1}
    assert got["partially_settled"]["value"] - before["partially_settled"]["value"] == 1
    assert got["failed"]["value"] == before["failed"]["value"]  # the first outcome was superseded
    neighbour = next(g for g in got["by_type"] if g["key"] == "neighbour")
    assert neighbour["label"] == "邻里纠纷" and neighbour["disputes"]["value"] >= 2
    # the case with the village terminal belongs to the village's shared court
    village = await ok_json(
        await n.judge.get(f"/api/network/stats?year={year}&shared_court_id={n.village}")
    )
    assert village["disputes"]["value"] == 1 and village["settled"]["value"] == 1


async def wait_ended(h: Harness, session_ids: list[str]) -> None:
    from server.models import MediationSession, SessionStatus

    async def ended() -> bool:
        async with h.app[STATE_KEY].db.session() as s:
            rows = [await s.get(MediationSession, sid) for sid in session_ids]
        return all(r is not None and r.status == SessionStatus.ended for r in rows)

    await eventually(ended, "the sessions ended")
