"""Importing past years' intakes (XLSX and GBK CSV, Chinese headers and labels, closing dates and
outcomes) through the real server; the statistics that follow are checked against figures
computed here by plain arithmetic over the rows, not by server.court_network.stats."""

from __future__ import annotations

import io
import statistics
from datetime import date
from typing import Any

import aiohttp
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference

from tests.api.world import create_case, ok_json
from tests.court_network.net import profile

CASES = "/api/network/import/cases"
PREVIEW = "/api/network/import/cases/preview"
TYPE_LABEL = {
    "marriage_family": "婚姻家庭",
    "property_management": "物业纠纷",
    "finance_insurance": "金融保险",
    "neighbour": "邻里",
    "labour": "劳动争议",
    "other": "其他",
}
OUTCOME_LABEL = {
    "settled": "调解成功",
    "partially_settled": "部分达成",
    "failed": "调解不成",
    "withdrawn": "撤回",
}

# (applicant, respondent, case type, received (local day), closed (local day) or None,
#  outcome or None, shared court key, area key or None: the shared court's)
XLSX_ROWS: list[tuple[str, str, str, str, str | None, str | None, str, str | None]] = [
    ("赵一", "钱一", "marriage_family", "2024-03-01", "2024-03-11", "settled", "village", None),
    ("赵二", "钱二", "labour", "2024-12-31", "2025-01-02", "failed", "marriage", None),
    ("赵三", "钱三", "marriage_family", "2025-01-01", "2025-01-21", "settled", "village", None),
    (
        "赵四",
        "钱四",
        "neighbour",
        "2025-02-10",
        "2025-02-11",
        "partially_settled",
        "village2",
        None,
    ),
    ("赵五", "钱五", "property_management", "2025-03-05", "2025-04-04", "failed", "village", None),
    (
        "赵六",
        "钱六",
        "finance_insurance",
        "2025-06-30",
        "2025-07-03",
        "withdrawn",
        "marriage",
        None,
    ),
    ("赵七", "钱七", "labour", "2025-12-31", "2026-01-10", "settled", "marriage", "east"),
]
CSV_ROWS: list[tuple[str, str, str, str, str | None, str | None, str, str | None]] = [
    ("孙一", "李一", "labour", "2024-05-05", "2024-06-04", "failed", "village2", None),
    ("孙二", "李二", "neighbour", "2025-05-05", "2025-05-15", "settled", "village2", None),
    ("孙三", "李三", "other", "2025-08-08", "2025-09-07", "failed", "marriage", "west"),
    ("孙四", "李四", "marriage_family", "2025-10-10", None, None, "marriage", None),  # open
]
ALL = XLSX_ROWS + CSV_ROWS
COURT_AREA = {"village": "east", "village2": "east", "marriage": "west"}


def day(s: str) -> date:
    return date.fromisoformat(s)


def expected(year: int, definition: str = "mediated") -> dict[str, Any]:
    """`mediated`: success rate and days to close over settled, partially settled and failed
    closures; `all_closed`: over every closure, withdrawn included."""

    def area(r: tuple[Any, ...]) -> str:
        return str(r[7] or COURT_AREA[r[6]])

    rec = [r for r in ALL if day(r[3]).year == year]
    closed = [r for r in ALL if r[4] is not None and day(r[4]).year == year]

    def count(outcome: str) -> int:
        return sum(r[5] == outcome for r in closed)

    counted = ("settled", "partially_settled", "failed") + (
        ("withdrawn",) if definition == "all_closed" else ()
    )
    mediated = sum(count(o) for o in counted)
    days = sorted(
        float((day(r[4]) - day(r[3])).days) for r in closed if r[4] is not None and r[5] in counted
    )
    return {
        "disputes": len(rec),
        "closed": len(closed),
        "settled": count("settled"),
        "partially_settled": count("partially_settled"),
        "failed": count("failed"),
        "withdrawn": count("withdrawn"),
        "success_rate": count("settled") / mediated if mediated else None,
        "median_days": statistics.median(days) if days else None,
        "by_type": {t: sum(r[2] == t for r in rec) for t in TYPE_LABEL},
        "area_disputes": {a: sum(area(r) == a for r in rec) for a in ("east", "west")},
        "area_lawsuits": {
            a: sum(area(r) == a and r[5] == "failed" for r in closed) for a in ("east", "west")
        },
    }


async def names(n: Any) -> tuple[dict[str, str], dict[str, str]]:
    courts = {
        c["id"]: c["name"] for c in await ok_json(await n.admin.get("/api/network/shared-courts"))
    }
    areas = {a["id"]: a["name"] for a in await ok_json(await n.admin.get("/api/network/areas"))}
    return (
        {
            "village": courts[n.village],
            "village2": courts[n.village2],
            "marriage": courts[n.marriage],
        },
        {"east": areas[n.area_east], "west": areas[n.area_west]},
    )


def history_xlsx(courts: dict[str, str], areas: dict[str, str]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "历史案件"
    ws.append(
        [
            "申请人",
            "被申请人",
            "案件类型",
            "受理日期",
            "结案日期",
            "结果",
            "共享法庭",
            "片区",
            "备注",
        ]
    )
    for i, (a, r, t, rec, closed, outcome, court, area) in enumerate(XLSX_ROWS):
        # Excel date cells on even rows, text dates (YYYY/M/D) on odd ones
        d_rec: Any = day(rec) if i % 2 == 0 else day(rec).strftime("%Y/%-m/%-d")
        d_closed: Any = day(closed) if closed and i % 2 == 0 else closed
        label: str | None = OUTCOME_LABEL[outcome] if outcome else None
        if i == 2 and outcome:
            label = outcome  # English keys work too
        ws.append(
            [
                a,
                r,
                TYPE_LABEL[t],
                d_rec,
                d_closed,
                label,
                courts[court],
                areas[area] if area else None,
                "旧系统导出",
            ]
        )
    ws.append([None] * 9)  # trailing blank row: skipped
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def history_gbk_csv(courts: dict[str, str], areas: dict[str, str]) -> bytes:
    lines = [
        "申请人,被申请人,纠纷类型,受理日期,结案日期,调解结果,共享法庭,片区,联系电话,诉求,经办人"
    ]
    for a, r, t, rec, closed, outcome, court, area in CSV_ROWS:
        phone, claim = ("13900000000", "请求调解") if outcome is None else ("", "")
        lines.append(
            ",".join(
                [
                    a,
                    r,
                    TYPE_LABEL[t],
                    rec,
                    closed or "",
                    OUTCOME_LABEL[outcome] if outcome else "",
                    courts[court],
                    areas[area] if area else "",
                    phone,
                    claim,
                    "王法官",
                ]
            )
        )
    return ("\r\n".join(lines) + "\r\n").encode("gb18030")


def form(raw: bytes, filename: str, **fields: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("file", raw, filename=filename)
    for k, v in fields.items():
        f.add_field(k, v)
    return f


async def test_history_import_feeds_statistics(h2: Any) -> None:
    h, n = h2
    courts, areas = await names(n)
    # the marriage court assigns on receipt; a mediator who takes every type, max_open 1
    await ok_json(
        await n.admin.patch(f"/api/network/shared-courts/{n.marriage}", json={"auto_assign": True})
    )
    med = h.seed.users["mediator_a"]
    await profile(
        n.admin, med, specialties=list(TYPE_LABEL), shared_court_ids=[n.marriage], max_open=1
    )
    before = await ok_json(await n.judge.get("/api/network/stats?year=2025"))
    xlsx = history_xlsx(courts, areas)

    # preview: columns detected from the Chinese headers, extra column ignored, nothing written
    pv = await ok_json(await n.clerk.post(PREVIEW, data=form(xlsx, "history.xlsx")))
    assert pv["format"] == "xlsx" and pv["sheet"] == "历史案件" and pv["valid"] is True
    assert pv["total_rows"] == len(XLSX_ROWS) and pv["errors"] == []
    assert pv["ignored_columns"] == ["备注"] and pv["missing_fields"] == []
    assert pv["mapping"]["受理日期"] == "received_at" and pv["mapping"]["结果"] == "outcome"
    assert pv["mapping"]["片区"] == "area"
    first = pv["rows"][0]
    assert first["case_type"] == "marriage_family" and first["status"] == "settled"
    assert first["received_at"].startswith("2024-02-29T16:00:00")  # local midnight, UTC+8
    assert first["shared_court_id"] == n.village and first["number"] is None
    assert pv["rows"][6]["area_id"] == n.area_east
    assert await ok_json(await n.clerk.get("/api/network/intakes")) == []

    out = await ok_json(await n.clerk.post(CASES, data=form(xlsx, "history.xlsx")), 201)
    assert out["imported"] == len(XLSX_ROWS) and out["ignored_columns"] == ["备注"]
    gbk = history_gbk_csv(courts, areas)
    pv = await ok_json(await n.clerk.post(PREVIEW, data=gbk, headers={"Content-Type": "text/csv"}))
    assert pv["encoding"] == "gb18030" and pv["valid"] is True, pv["errors"]
    assert sorted(pv["ignored_columns"]) == ["经办人"]
    out = await ok_json(
        await n.clerk.post(CASES, data=gbk, headers={"Content-Type": "text/csv"}), 201
    )
    assert out["imported"] == len(CSV_ROWS)

    rows = {
        r["applicant_name"]: r for r in await ok_json(await n.clerk.get("/api/network/intakes"))
    }
    assert len(rows) == len(ALL)
    for a, _r, t, rec, closed, outcome, _court, _area in ALL:
        got = rows[a]
        # numbers follow the local intake date, never today's
        assert got["number"].startswith("TJ" + rec.replace("-", "")), (a, got["number"])
        assert got["case_type"] == t and got["status"] == (outcome or "received")
        assert got["channel"] == "imported"
        # nothing assigned, not even at the auto-assign shared court
        assert got["mediator_id"] is None, a
        if closed:
            assert got["closed_at"] is not None
    # the mediator's max_open (1) is untouched by history: a live intake still gets them
    live = await ok_json(
        await n.clerk.post(
            "/api/network/intakes",
            json={
                "case_type": "labour",
                "applicant_name": "新申请人",
                "applicant_phone": "13911110000",
                "respondent_name": "某公司",
                "claim": "欠薪",
                "shared_court_id": n.marriage,
            },
        ),
        201,
    )
    assert live["mediator_id"] == med

    detail = await ok_json(await n.clerk.get(f"/api/network/intakes/{rows['赵五']['id']}"))
    assert [(t["from_status"], t["to_status"]) for t in detail["transitions"]] == [
        (None, "received"),
        ("received", "failed"),
    ]

    for year in (2025, 2024):
        got = await ok_json(await n.judge.get(f"/api/network/stats?year={year}"))
        # the figures follow the definition the server reports (mediated where none is)
        d = (got.get("definition") or {}).get("key", "mediated")
        e, p = expected(year, d), expected(year - 1, d)
        for key in ("disputes", "closed", "settled", "partially_settled", "failed", "withdrawn"):
            assert got[key]["value"] == e[key], (year, key)
            assert got[key]["previous"] == p[key], (year, key)
        if e["success_rate"] is None:
            assert got["success_rate"]["value"] is None
        else:
            assert abs(got["success_rate"]["value"] - e["success_rate"]) < 1e-9
        assert got["median_days"]["value"] == e["median_days"]
        by_type = {g["key"]: g["disputes"]["value"] for g in got["by_type"]}
        assert by_type == e["by_type"], year
        by_area = {a["key"]: a for a in got["by_area"]}
        for name, aid in (("east", n.area_east), ("west", n.area_west)):
            assert by_area[aid]["disputes"]["value"] == e["area_disputes"][name], (year, name)
            assert by_area[aid]["lawsuits"]["value"] == e["area_lawsuits"][name], (year, name)
    # hand-checked anchors against a shared mistake in the formulas above and the server's
    e25 = expected(2025)
    assert (e25["disputes"], e25["closed"], e25["settled"], e25["failed"]) == (8, 7, 2, 3)
    assert e25["median_days"] == 15.0  # 1, 2, 10, 20, 30, 30 days
    assert before["disputes"]["value"] == 0

    # the same files again: refused as duplicates, nothing imported, a plain message
    resp = await n.clerk.post(CASES, data=form(xlsx, "history.xlsx"))
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["code"] == "import_invalid" and "already imported" in err["message"]
    assert {f["type"] for f in err["fields"]} == {"duplicate"}
    assert [f["row"] for f in err["fields"]] == list(range(2, 2 + len(XLSX_ROWS)))
    resp = await n.clerk.post(CASES, data=gbk, headers={"Content-Type": "text/csv"})
    assert resp.status == 400
    assert len(await ok_json(await n.clerk.get("/api/network/intakes"))) == len(ALL) + 1
    got = await ok_json(await n.judge.get("/api/network/stats?year=2025"))
    assert got["disputes"]["value"] == expected(2025)["disputes"]


def numbered_csv(n_rows: int, bad: set[int]) -> bytes:
    """Data rows at lines 2 … n_rows + 1; the lines in `bad` get an unknown case type."""
    lines = ["applicant_name,respondent_name,case_type,received_at,applicant_phone,claim"]
    for line in range(2, n_rows + 2):
        t = "pets" if line in bad else "labour"
        lines.append(
            f"申请人{line},被申请人{line},{t},2025-01-{line % 28 + 1:02d},13900000000,欠薪"
        )
    return ("\n".join(lines) + "\n").encode()


async def test_row_errors_sorted_numerically_and_collisions(h2: Any) -> None:
    _h, n = h2
    headers = {"Content-Type": "text/csv"}
    resp = await n.clerk.post(CASES, data=numbered_csv(101, {100, 10, 2}), headers=headers)
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert [f["field"] for f in err["fields"]] == [
        "row 2.case_type",
        "row 10.case_type",
        "row 100.case_type",
    ]
    assert "row 2, row 10, row 100" in err["message"]
    assert err["fields"][0]["column"] == "case_type"
    # a case (not an intake) already holds the number: a row error, not a generic 409
    case = await create_case(n.clerk, number="（2025）浙0110民诉前调1号")
    csv_text = (
        "编号,申请人,被申请人,案件类型,受理日期,结案日期,结果,电话,诉求\n"
        "X-1,甲,乙,邻里,2025-01-05,2025-01-09,settled,,\n"
        f"{case['case_number']},丙,丁,邻里,2025-01-06,,,13900000000,排水\n"
        "X-1,戊,己,邻里,2025-01-07,2025-01-08,,,\n"  # number repeated; date but no outcome
        "X-4,庚,辛,邻里,2025-01-07,2025-01-01,failed,,\n"  # closed before received
        "X-5,壬,癸,邻里,2025-01-07,,,,\n"  # open: phone and claim required
    )
    resp = await n.clerk.post(CASES, data=csv_text.encode(), headers=headers)
    assert resp.status == 400
    got = [(f["field"], f["type"]) for f in (await resp.json())["error"]["fields"]]
    assert got == [
        ("row 3.number", "exists"),
        ("row 4.number", "duplicate"),
        ("row 4.outcome", "missing"),
        ("row 5.closed_at", "before_received"),
        ("row 6.applicant_phone", "missing"),
        ("row 6.claim", "missing"),
    ]
    assert await ok_json(await n.clerk.get("/api/network/intakes")) == []
    # the preview lists the same errors and writes nothing
    pv = await ok_json(await n.clerk.post(PREVIEW, data=csv_text.encode(), headers=headers))
    assert pv["valid"] is False and [(e["field"], e["type"]) for e in pv["errors"]] == got
    assert pv["rows"][0]["ok"] is True and pv["rows"][1]["ok"] is False
    # duplicates within one file (same applicant, respondent, type and day)
    dup = (
        "申请人,被申请人,案件类型,受理日期,结案日期,结果\n"
        "甲,乙,邻里,2025-01-05,2025-01-09,调解成功\n"
        "甲,乙,邻里纠纷,2025/1/5,2025-01-19,调解不成\n"
    )
    resp = await n.clerk.post(CASES, data=dup.encode("utf-8-sig"), headers=headers)
    fields = (await resp.json())["error"]["fields"]
    assert [(f["field"], f["type"]) for f in fields] == [("row 3.applicant_name", "duplicate")]


async def test_explicit_mapping_and_preview(h2: Any) -> None:
    _h, n = h2
    text = (
        "当事人甲,当事人乙,类别,日期,处理结果,办结,备注\n"
        "周一,吴一,劳动,2025-04-01,部分达成,2025-04-20,x\n"
    )
    mapping = (
        '{"当事人甲": "applicant_name", "当事人乙": "respondent_name", "类别": "case_type",'
        ' "日期": "received_at", "处理结果": "outcome", "办结": "closed_at", "备注": null}'
    )
    # without a mapping the required columns are missing: the preview says which
    pv = await ok_json(await n.clerk.post(PREVIEW, data=form(text.encode(), "a.csv")))
    assert pv["valid"] is False
    assert pv["missing_fields"] == ["case_type", "applicant_name", "respondent_name"]
    assert {f["key"] for f in pv["fields"]} >= {"closed_at", "outcome", "area"}
    assert pv["columns"][0]["samples"] == ["周一"]
    pv = await ok_json(
        await n.clerk.post(PREVIEW, data=form(text.encode(), "a.csv", mapping=mapping))
    )
    assert pv["valid"] is True and pv["missing_fields"] == [], pv["errors"]
    assert pv["rows"][0]["status"] == "partially_settled"
    assert pv["ignored_columns"] == ["备注"]
    assert await ok_json(await n.clerk.get("/api/network/intakes")) == []
    # an unknown field in the mapping is refused
    resp = await n.clerk.post(
        PREVIEW, data=form(text.encode(), "a.csv", mapping='{"日期": "when"}')
    )
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_mapping"
    hook = await ok_json(
        await n.admin.post(
            "/api/network/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "events": ["intake.received"]},
        ),
        201,
    )
    out = await ok_json(
        await n.clerk.post(CASES, data=form(text.encode(), "a.csv", mapping=mapping)), 201
    )
    assert out["imported"] == 1 and out["mapping"]["办结"] == "closed_at"
    # history is not announced as new applications
    deliveries = await ok_json(
        await n.admin.get(f"/api/network/webhooks/{hook['webhook']['id']}/deliveries")
    )
    assert deliveries == []
    got = await ok_json(await n.judge.get("/api/network/stats?year=2025"))
    assert got["partially_settled"]["value"] == 1 and got["median_days"]["value"] == 19.0


async def test_unreadable_files_are_refused(h2: Any) -> None:
    _h, n = h2
    resp = await n.clerk.post(PREVIEW, data=form(b"PK\x03\x04not a zip", "x.xlsx"))
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_xlsx"
    resp = await n.clerk.post(CASES, data=form(b"", "x.csv"))
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "file_empty"
    f = aiohttp.FormData()
    f.add_field("mapping", "{}", content_type="application/json")  # multipart, no file
    resp = await n.clerk.post(CASES, data=f)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "file_missing"
    # open statuses in the outcome column mean "no outcome yet"; a header-only file imports
    # nothing
    text = "申请人,被申请人,案件类型,结果,电话,诉求\n甲,乙,劳动,调解中,13900000000,欠薪\n"
    pv = await ok_json(await n.clerk.post(PREVIEW, data=form(text.encode("gb18030"), "a.csv")))
    assert pv["valid"] is True and pv["rows"][0]["status"] == "received"
    resp = await n.clerk.post(CASES, data=form(text.split("\n")[0].encode(), "a.csv"))
    assert resp.status == 400


def workbook(sheets: dict[str, list[list[Any]]], chart: bool = False) -> bytes:
    wb = Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    if chart:  # a chart sheet (no cells) over the last sheet's first column
        bars = BarChart()
        bars.add_data(Reference(ws, min_col=1, min_row=1, max_row=2))
        wb.create_chartsheet("图表").add_chart(bars)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def test_a_workbook_of_several_sheets_offers_them_all(h2: Any) -> None:
    """Excel users keep one sheet per year, often behind a blank Sheet1: the preview reads the
    first sheet that has a header, names every worksheet, and reads the one chosen."""
    _h, n = h2
    header = ["申请人", "被申请人", "案件类型", "受理日期", "结案日期", "结果"]
    raw = workbook(
        {
            "Sheet1": [],
            "2023年": [header, ["甲一", "乙一", "邻里", "2023-05-04", "2023-05-09", "调解成功"]],
            "2024年": [
                header,
                ["甲二", "乙二", "劳动", "2024-01-02", "2024-01-12", "调解不成"],
                ["甲三", "乙三", "物业", "2024-02-03", "2024-02-13", "撤回"],
            ],
        },
        chart=True,
    )
    pv = await ok_json(await n.clerk.post(PREVIEW, data=form(raw, "历年.xlsx")))
    assert pv["sheets"] == ["Sheet1", "2023年", "2024年"]  # worksheets only, not the chart
    assert pv["sheet"] == "2023年" and pv["total_rows"] == 1 and pv["valid"] is True
    assert [r["applicant_name"] for r in pv["rows"]] == ["甲一"]
    pv = await ok_json(await n.clerk.post(PREVIEW, data=form(raw, "历年.xlsx", sheet="2024年")))
    assert pv["sheet"] == "2024年" and pv["sheets"] == ["Sheet1", "2023年", "2024年"]
    assert [r["applicant_name"] for r in pv["rows"]] == ["甲二", "甲三"]
    assert [r["status"] for r in pv["rows"]] == ["failed", "withdrawn"]
    # a sheet that is not there, or is blank, says so and which sheets there are
    for name, words in (("2025年", "可选：Sheet1、2023年、2024年"), ("Sheet1", "是空的")):
        resp = await n.clerk.post(PREVIEW, data=form(raw, "历年.xlsx", sheet=name))
        body = await resp.json()
        assert resp.status == 400 and body["error"]["code"] == "invalid_xlsx", body
        assert words in body["error"]["message"], body
    resp = await n.clerk.post(PREVIEW, data=form(raw, "历年.xlsx", sheet="图表"))
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_xlsx"
    # the import reads the sheet chosen, and only it
    out = await ok_json(await n.clerk.post(CASES, data=form(raw, "历年.xlsx", sheet="2024年")), 201)
    assert out["imported"] == 2
    names = {r["applicant_name"] for r in await ok_json(await n.clerk.get("/api/network/intakes"))}
    assert {"甲二", "甲三"} <= names and "甲一" not in names
    # a workbook whose every sheet is blank has nothing to import
    resp = await n.clerk.post(PREVIEW, data=form(workbook({"Sheet1": [], "Sheet2": []}), "空.xlsx"))
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_xlsx"
