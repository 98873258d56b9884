"""Browser test of the history import page (/clerk/import) and of the statistics page it feeds
(issue #15, "Statistics that count real work and real history").

The test builds its own data set of past intakes (two years: the period shown and the year
before, several case types, shared courts and areas made here through the API, all four
outcomes, some intakes still open, times near midnight on both sides of the new year), writes
part of it as an XLSX and part as a GBK CSV with Chinese headers and labels, and imports both
in headless Chromium through the page: choose the file, map a column the server does not
recognise by hand, check the preview, import. A file with bad rows shows its errors per row, in
row order, and imports nothing. Then the statistics page for the period is read — every KPI
with its year-on-year change and previous value, the backlog, the uncovered case types, the
workload, the per-area and per-shared-court tables, and both charts (through their tooltips) —
and compared with figures computed here from the data set alone, under the definition the page
states, under the other definition, and for one shared court. Dates are the court's local time
(its time zone from GET /api/auth/me, Asia/Shanghai by default).
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook

from tests.web.conftest import Server
from tests.web.test_web_agreement import staff_login
from tests.web.test_web_client import new_page, wait_until
from tests.web.test_web_mediator_and_stats import PASSWORDS, Staff

pytestmark = pytest.mark.slow

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TYPES = (
    "marriage_family",
    "property_management",
    "finance_insurance",
    "neighbour",
    "labour",
    "other",
)
# What the page calls each case type (zh-CN), and the labels the files use.
TYPE_NAME = {
    "marriage_family": "婚姻家庭",
    "property_management": "物业",
    "finance_insurance": "金融保险",
    "neighbour": "邻里",
    "labour": "劳动",
    "other": "其他",
}
XLSX_TYPE_LABEL = {
    "marriage_family": "婚姻家庭纠纷",
    "property_management": "物业纠纷",
    "finance_insurance": "金融保险纠纷",
    "neighbour": "邻里纠纷",
    "labour": "劳动争议",
    "other": "其他纠纷",
}
OUTCOME_LABEL = {
    "settled": "调解成功",
    "partially_settled": "部分达成",
    "failed": "调解不成",
    "withdrawn": "撤回",
}
CLOSING = ("settled", "partially_settled", "failed", "withdrawn")
MEDIATED = ("settled", "partially_settled", "failed")
# key → (name, population)
AREAS = {"jingshan": ("径山镇", 38000), "pingyao": ("瓶窑镇", 52000), "liangzhu": ("良渚街道", None)}
# key → (name, kind, area key)
COURTS = {
    "village": ("径山村共享法庭", "village", "jingshan"),
    "community": ("瓶窑社区共享法庭", "community", "pingyao"),
    "marriage": ("良渚婚调委共享法庭", "marriage_family", "liangzhu"),
    "finance": ("金融纠纷共享法庭", "finance_insurance", None),
}
NO_COURT_LABEL = "(无共享法庭 / none)"
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
RESPONDENTS = ("某某物业服务有限公司", "某银行股份有限公司", "某保险公司", "邻居王某", "某建材厂", "配偶")


def court_year() -> int:
    return (datetime.now(UTC) + timedelta(hours=8)).year


@dataclass
class Row:
    """One historical intake of the data set; times are the court's wall-clock time."""

    applicant: str
    respondent: str
    case_type: str
    received: datetime
    received_timed: bool  # a time of day in the file, not only a date
    closed: datetime | None
    closed_timed: bool
    outcome: str | None
    court: str | None  # key of COURTS
    area: str | None  # key of AREAS given in the row (else the shared court's)
    phone: str
    claim: str
    number: str = ""

    @property
    def effective_area(self) -> str | None:
        return self.area or (COURTS[self.court][2] if self.court else None)


def build_rows(period: int) -> tuple[list[Row], list[Row]]:
    """The XLSX's rows and the CSV's rows: `period` and the year before, never the future."""
    rng = random.Random(15_2025)
    prev = period - 1
    rows: list[Row] = []
    courts: list[str | None] = [*COURTS, None]
    for i in range(48):
        year = prev if i % 3 == 0 else period
        timed = i % 4 == 1
        received = datetime(
            year, rng.randint(1, 12), rng.randint(1, 28), rng.randint(8, 17) if timed else 0,
            rng.choice((0, 15, 30, 45)) if timed else 0,
        )
        closed: datetime | None = None
        outcome: str | None = None
        closed_timed = False
        if i % 5 != 2:  # about one in five stays open
            outcome = CLOSING[(i * 7) % 4]
            closed_timed = i % 6 == 3
            closed = received.replace(hour=0, minute=0) + timedelta(days=rng.randint(1, 70))
            if closed_timed:
                closed = closed.replace(hour=rng.randint(9, 18), minute=rng.choice((5, 20, 50)))
            closed = min(closed, datetime(period, 12, 31, 17, 0))
        rows.append(
            Row(
                applicant=SURNAMES[i % len(SURNAMES)]
                + GIVEN[i % len(GIVEN)]
                + GIVEN[(i // 7) % len(GIVEN)],
                respondent=RESPONDENTS[i % len(RESPONDENTS)],
                case_type=TYPES[(i * 5 + i // 6) % len(TYPES)],
                received=received,
                received_timed=timed,
                closed=closed,
                closed_timed=closed_timed,
                outcome=outcome,
                court=courts[rng.randrange(len(courts))],
                area=rng.choice((None, None, None, "pingyao", "liangzhu")),
                phone=f"139{i:08d}",
                claim="请求依法调解",
            )
        )
    # Edges of the local calendar: UTC would put each of these in the other year.
    rows += [
        # received 00:30 on 1 January (16:30 UTC on 31 December): a dispute of the period
        Row("元旦甲", "元旦乙", "neighbour", datetime(period, 1, 1, 0, 30), True,
            datetime(period, 1, 9), False, "settled", "village", None, "13800000001", "排水"),
        # received late on New Year's Eve, closed 00:15 on 1 January (still 31 December in
        # UTC): a dispute of the year before, a closure of the period
        Row("跨年甲", "跨年乙", "labour", datetime(prev, 12, 31, 23, 30), True,
            datetime(period, 1, 1, 0, 15), True, "failed", "community", None, "13800000002", "欠薪"),
        # a plain closing date on the day of a timed receipt: closed at the receipt (0 days)
        Row("当日甲", "当日乙", "other", datetime(period, 6, 10, 15, 0), True,
            datetime(period, 6, 10), False, "withdrawn", None, "jingshan", "13800000003", "噪音"),
        # open since 23:50 on 31 December of the period
        Row("岁末甲", "岁末乙", "marriage_family", datetime(period, 12, 31, 23, 50), True,
            None, False, None, "marriage", None, "13800000004", "抚养费"),
    ]
    assert len({r.applicant for r in rows}) == len(rows)
    for r in rows:
        assert r.closed is None or r.closed.date() >= r.received.date()
    xlsx, gbk = rows[:30], rows[30:]
    for n, r in enumerate(gbk, start=1):
        r.number = f"LS{period}-{n:03d}"
    return xlsx, gbk


# ─── the files ────────────────────────────────────────────────────────────────────────────
XLSX_HEADER = ["序号", "案件类型", "申请方", "申请人电话", "被申请人", "诉求", "共享法庭", "片区",
               "受理日期", "结案日期", "调解结果", "备注"]
CSV_HEADER = ["编号", "纠纷类型", "申请人", "联系电话", "被申请人", "请求事项", "共享法庭名称",
              "乡镇街道", "收案日期", "办结日期", "化解结果"]


def xlsx_bytes(rows: list[Row]) -> bytes:
    """Excel cells as a clerk types them: dates as date cells (a time where there is one),
    a few as text in the 年月日 form; "申请方" is a header the server does not know."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "历史案件"
    ws.append(XLSX_HEADER)
    for n, r in enumerate(rows, start=1):
        received: Any = r.received if r.received_timed else r.received.date()
        if n % 7 == 0 and not r.received_timed:
            received = f"{r.received.year}年{r.received.month}月{r.received.day}日"
        closed: Any = None
        if r.closed is not None:
            closed = r.closed if r.closed_timed else r.closed.date()
        ws.append([
            n,
            XLSX_TYPE_LABEL[r.case_type],
            r.applicant,
            r.phone,
            r.respondent,
            r.claim,
            COURTS[r.court][0] if r.court else None,
            AREAS[r.area][0] if r.area else None,
            received,
            closed,
            OUTCOME_LABEL[r.outcome] if r.outcome else None,
            "补录" if n % 4 == 0 else None,
        ])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _csv_when(at: datetime, timed: bool, n: int) -> str:
    if timed:
        return at.strftime("%Y-%m-%d %H:%M")
    return (f"{at.year}/{at.month}/{at.day}", at.strftime("%Y-%m-%d"), at.strftime("%Y%m%d"))[n % 3]


def gbk_csv_bytes(rows: list[Row]) -> bytes:
    """What Excel on a Chinese Windows saves: GBK; "化解结果" needs mapping by hand."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_HEADER)
    for n, r in enumerate(rows):
        outcome = OUTCOME_LABEL[r.outcome] if r.outcome else ("调解中" if n == 1 else "")
        w.writerow([
            r.number,
            TYPE_NAME[r.case_type],
            r.applicant,
            r.phone,
            r.respondent,
            r.claim,
            COURTS[r.court][0] if r.court else "",
            AREAS[r.area][0] if r.area else "",
            _csv_when(r.received, r.received_timed, n),
            _csv_when(r.closed, r.closed_timed, n) if r.closed else "",
            outcome,
        ])
    return buf.getvalue().encode("gbk")


def bad_csv_bytes(period: int) -> tuple[bytes, list[tuple[int, str]]]:
    """Eleven rows, three of them wrong (lines 3, 10 and 12: numeric, not text, order)."""
    lines = ["案件类型,申请人,被申请人,共享法庭,受理日期,结案日期,结果"]
    for n in range(2, 13):
        kind, court, received, closed = "邻里", "径山村共享法庭", f"{period}-03-{n:02d}", f"{period}-04-{n:02d}"
        if n == 3:
            kind = "合同纠纷"
        if n == 10:
            closed = f"{period}-02-01"
        if n == 12:
            court = "不存在的共享法庭"
        lines.append(f"{kind},错例申请人{n},错例被申请人{n},{court},{received},{closed},调解成功")
    wrong = [(3, "case_type"), (10, "closed_at"), (12, "shared_court")]
    return ("\n".join(lines) + "\n").encode("utf-8"), wrong


# ─── the figures, computed from the data set alone ────────────────────────────────────────
@dataclass
class Fact:
    row: Row
    received: datetime  # aware
    closed: datetime | None  # aware


def facts_of(rows: list[Row], zone: ZoneInfo) -> list[Fact]:
    out = []
    for r in rows:
        received = r.received.replace(tzinfo=zone)
        closed = r.closed.replace(tzinfo=zone) if r.closed else None
        if closed is not None and closed < received:
            # documented rule: a plain closing date on the day of a timed receipt closes at it
            closed = received
        out.append(Fact(r, received, closed))
    return out


def local(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone)


@dataclass
class Counts:
    disputes: int = 0
    settled: int = 0
    partially_settled: int = 0
    failed: int = 0
    withdrawn: int = 0

    @property
    def closed(self) -> int:
        return self.settled + self.partially_settled + self.failed + self.withdrawn

    def rate(self, definition: str) -> float | None:
        denom = self.settled + self.partially_settled + self.failed
        if definition == "all_closed":
            denom += self.withdrawn
        return self.settled / denom if denom else None


def counts(facts: list[Fact], year: int, zone: ZoneInfo, month: int | None = None) -> Counts:
    c = Counts()
    for f in facts:
        rec = local(f.received, zone)
        if rec.year == year and month in (None, rec.month):
            c.disputes += 1
        if f.closed is not None and f.row.outcome is not None:
            clo = local(f.closed, zone)
            if clo.year == year and month in (None, clo.month):
                setattr(c, f.row.outcome, getattr(c, f.row.outcome) + 1)
    return c


def days_to_close(facts: list[Fact], year: int, zone: ZoneInfo, definition: str) -> list[float]:
    statuses = CLOSING if definition == "all_closed" else MEDIATED
    return sorted(
        (f.closed - f.received).total_seconds() / 86400
        for f in facts
        if f.closed is not None and f.row.outcome in statuses and local(f.closed, zone).year == year
    )


def median(v: list[float]) -> float | None:
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def p90(v: list[float]) -> float | None:
    return v[max(1, math.ceil(0.9 * len(v))) - 1] if v else None


Metric = tuple[float | None, float | None]  # (value, previous)


def per10k(n: int, population: int | None) -> float | None:
    return n / population * 10000 if population else None


def expected(rows: list[Row], year: int, definition: str, zone: ZoneInfo,
             court: str | None = None) -> dict[str, Any]:
    """Every figure of the statistics page for `year` (and the year before), from the rows."""
    facts = [f for f in facts_of(rows, zone) if court is None or f.row.court == court]
    cur, prev = counts(facts, year, zone), counts(facts, year - 1, zone)
    d_cur = days_to_close(facts, year, zone, definition)
    d_prev = days_to_close(facts, year - 1, zone, definition)
    kpis: dict[str, tuple[Metric, str]] = {
        "disputes": ((cur.disputes, prev.disputes), "count"),
        "closed": ((cur.closed, prev.closed), "count"),
        "settled": ((cur.settled, prev.settled), "count"),
        "partially_settled": ((cur.partially_settled, prev.partially_settled), "count"),
        "failed": ((cur.failed, prev.failed), "count"),
        "withdrawn": ((cur.withdrawn, prev.withdrawn), "count"),
        "success_rate": ((cur.rate(definition), prev.rate(definition)), "ratio"),
        "median_days": ((median(d_cur), median(d_prev)), "days"),
        "p90_days": ((p90(d_cur), p90(d_prev)), "days"),
    }
    groups: dict[str, dict[str, Any]] = {}
    court_keys: list[str | None] = list(COURTS)
    if any(f.row.court is None for f in facts):
        court_keys.append(None)
    for k in court_keys:
        sub = [f for f in facts if f.row.court == k]
        c, p = counts(sub, year, zone), counts(sub, year - 1, zone)
        groups[COURTS[k][0] if k else NO_COURT_LABEL] = {
            "disputes": (c.disputes, p.disputes),
            "settled": (c.settled, p.settled),
            "success_rate": (c.rate(definition), p.rate(definition)),
        }
    areas: dict[str, dict[str, Any]] = {}
    for k, (name, population) in AREAS.items():
        sub = [f for f in facts if f.row.effective_area == k]
        c, p = counts(sub, year, zone), counts(sub, year - 1, zone)
        areas[name] = {
            "population": population,
            "disputes": (c.disputes, p.disputes),
            "disputes_per_10k": (per10k(c.disputes, population), per10k(p.disputes, population)),
            "lawsuits": (c.failed, p.failed),
            "lawsuits_per_10k": (per10k(c.failed, population), per10k(p.failed, population)),
            "success_rate": (c.rate(definition), p.rate(definition)),
        }
    months = {}
    for m in range(1, 13):
        mc, mp = counts(facts, year, zone, m), counts(facts, year - 1, zone, m)
        months[f"{m}月"] = {
            f"{year}年纠纷数": mc.disputes,
            f"{year - 1}年纠纷数": mp.disputes,
            f"{year}年调解成功": mc.settled,
        }
    types = {}
    for t in TYPES:
        sub = [f for f in facts if f.row.case_type == t]
        c, p = counts(sub, year, zone), counts(sub, year - 1, zone)
        if c.disputes or p.disputes:
            types[TYPE_NAME[t]] = {f"{year}年纠纷数": c.disputes, f"{year}年调解成功": c.settled}
    return {"kpis": kpis, "courts": groups, "areas": areas, "months": months, "types": types}


# ─── how the page writes a figure (web_client/src/lib/stats.ts), done independently ──────
def js_fixed(x: float, digits: int) -> str:
    """Number.prototype.toFixed: the exact binary value, ties away from zero."""
    q = Decimal(abs(x)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return ("-" if x < 0 and q != 0 else "") + f"{q:.{digits}f}"


def fmt(v: float | None, kind: str) -> str:
    if v is None:
        return "—"
    if kind == "ratio":
        return js_fixed(v * 100, 1) + "%"
    if kind == "days":
        return js_fixed(v, 1)
    if kind == "rate":
        return js_fixed(v, 2)
    return str(int(v))


def change_of(m: Metric) -> tuple[float | None, float | None]:
    value, previous = m
    change = None if value is None or previous is None else value - previous
    ratio = None if change is None or not previous else change / previous
    return change, ratio


def fmt_change(m: Metric, kind: str) -> str:
    change, ratio = change_of(m)
    if change is None:
        return "—"
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    a = abs(change)
    if kind == "ratio":
        return f"{sign}{js_fixed(a * 100, 1)} pct"
    body = str(int(a)) if kind == "count" else js_fixed(a, 1 if kind == "days" else 2)
    r = "" if ratio is None else f"（{'+' if ratio >= 0 else '−'}{js_fixed(abs(ratio * 100), 1)}%）"
    return sign + body + r


POLARITY = {"closed": 1, "settled": 1, "success_rate": 1, "failed": -1, "withdrawn": -1,
            "median_days": -1, "p90_days": -1}


def trend(key: str, m: Metric) -> str:
    change, _ = change_of(m)
    if not change:
        return "none"
    p = POLARITY.get(key, 0)
    if p == 0:
        return "neutral"
    return "good" if (change > 0) == (p > 0) else "bad"


# ─── reading the pages ────────────────────────────────────────────────────────────────────
def norm(text: str | None) -> str:
    return " ".join((text or "").split())


def choose(page: Any, select: Any, field: str) -> None:
    """Pick a field in one of the mapping's selects (Element Plus: a list opened beside it)."""
    select.click()
    option = page.locator(f".el-select-dropdown__item[data-field='{field}']:visible")
    option.click()
    option.wait_for(state="hidden")


def pick(page: Any, testid: str, text: str) -> None:
    page.get_by_test_id(testid).click()
    page.locator(".el-select-dropdown__item:visible", has_text=text).click()


def wait_idle(page: Any) -> None:
    wait_until(
        lambda: page.get_by_test_id("import-page").get_attribute("data-busy") == "false",
        what="the preview's answer",
    )


def upload(page: Any, name: str, data: bytes, mime: str) -> None:
    page.get_by_test_id("import-file").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )
    wait_until(
        lambda: page.get_by_test_id("import-file-name").count() == 1
        and page.get_by_test_id("import-file-name").inner_text() == name,
        what=f"{name} chosen",
    )
    page.get_by_test_id("import-preview").wait_for()
    wait_idle(page)


def column(page: Any, header: str) -> Any:
    return page.locator(f"[data-testid=import-column][data-header='{header}']")


def preview_errors(page: Any) -> list[tuple[int, str, str]]:
    items = page.get_by_test_id("import-error")
    return [
        (
            int(items.nth(i).get_attribute("data-row") or 0),
            items.nth(i).get_attribute("data-field") or "",
            items.nth(i).inner_text(),
        )
        for i in range(items.count())
    ]


def local_text(at: datetime, timed: bool) -> str:
    if timed and (at.hour or at.minute):
        return at.strftime("%Y-%m-%d %H:%M")
    return at.strftime("%Y-%m-%d")


def import_through_page(page: Any, name: str, data: bytes, mime: str, rows: list[Row],
                        by_hand: tuple[str, str], ignored: list[str], fmt_text: str,
                        errors_before: Callable[[list[tuple[int, str, str]]], None]) -> None:
    """Choose the file, map `by_hand` = (header, field) in the mapping step, check the preview
    and import; the result names how many rows went in."""
    upload(page, name, data, mime)
    assert fmt_text in page.get_by_test_id("import-format").inner_text()
    header, field = by_hand
    col = column(page, header)
    assert col.get_attribute("data-field") == "", "the server does not know this header"
    for h in ignored:
        assert column(page, h).get_attribute("data-field") == ""
    # Before the mapping: the problem it leaves is told, and import is refused.
    errors_before(preview_errors(page))
    submit = page.get_by_test_id("import-submit")
    assert submit.is_disabled()
    assert page.get_by_test_id("import-preview").get_attribute("data-valid") == "false"
    choose(page, col.get_by_test_id("import-column-field"), field)
    wait_until(lambda: col.get_attribute("data-field") == field, what=f"{header} → {field}")
    wait_idle(page)
    preview = page.get_by_test_id("import-preview")
    wait_until(lambda: preview.get_attribute("data-valid") == "true",
               what=f"a valid preview, errors: {preview_errors(page)}")
    assert page.get_by_test_id("import-errors").count() == 0
    assert page.get_by_test_id("import-no-errors").is_visible()
    assert "必填字段均已对应" in page.get_by_test_id("import-required").inner_text()
    assert preview.get_attribute("data-total") == str(len(rows))
    assert f"共 {len(rows)} 行数据" in page.get_by_test_id("import-total").inner_text()
    # The preview shows the rows as the server read them, times in the court's zone.
    shown = page.get_by_test_id("import-preview-row")
    assert shown.count() == min(20, len(rows))
    for i in (0, 3, shown.count() - 1):
        r, cells = rows[i], shown.nth(i).locator("td")
        assert shown.nth(i).get_attribute("data-ok") == "true"
        assert cells.nth(2).inner_text() == TYPE_NAME[r.case_type]
        assert cells.nth(3).inner_text() == r.applicant
        assert cells.nth(7).inner_text() == local_text(r.received, r.received_timed)
        if r.closed is not None:
            assert cells.nth(8).inner_text() == local_text(r.closed, r.closed_timed) or (
                r.closed < r.received
            )
        status = {**OUTCOME_LABEL, "withdrawn": "已撤回"}.get(r.outcome or "", "已受理")
        assert cells.nth(9).inner_text() == status
    assert submit.is_enabled()
    submit.click()
    result = page.get_by_test_id("import-result")
    result.wait_for()
    assert result.get_attribute("data-imported") == str(len(rows))
    assert f"已导入 {len(rows)} 条" in page.get_by_test_id("import-result-count").inner_text()
    if ignored:
        assert all(h in page.get_by_test_id("import-result-ignored").inner_text() for h in ignored)
    assert page.get_by_test_id("import-stats-link").get_attribute("href") == "/clerk/stats"


# ECharts' default axis tooltip (HTML beside the canvas): the category in the first div, then
# per series its name (margin-left) and its value (float right).
TOOLTIP_JS = """el => {
  const tip = [...el.children].find((c) => c.style.zIndex === '9999999')
  if (!tip || tip.style.display === 'none' || tip.style.opacity === '0') return null
  const spans = [...tip.querySelectorAll('span')]
  return {
    title: tip.querySelector('div[style*="font-weight:400"]')?.textContent ?? '',
    names: spans.filter((s) => s.style.marginLeft === '2px').map((s) => s.textContent),
    values: spans.filter((s) => s.style.float === 'right').map((s) => s.textContent),
  }
}"""


def tooltip_values(
    page: Any, testid: str, categories: int, horizontal: bool
) -> dict[str, dict[str, int]]:
    """A chart's figures, read from its tooltip category by category (ECharts draws on a
    canvas; the tooltip is HTML). `horizontal`: categories on the y axis (bottom up)."""
    chart = page.get_by_test_id(testid)
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(300)  # the charts are redrawn just after the figures arrive
    box = chart.bounding_box()
    assert box is not None
    # the grids of lib/stats.ts: month chart left 40 right 16 top 36 bottom 28; type chart
    # left 90 right 16 top 36 bottom 20
    left, right, top, bottom = (90, 16, 36, 20) if horizontal else (40, 16, 36, 28)
    x0, x1 = box["x"] + left, box["x"] + box["width"] - right
    y0, y1 = box["y"] + top, box["y"] + box["height"] - bottom
    out: dict[str, dict[str, int]] = {}
    for i in range(categories):
        if horizontal:
            x, y = (x0 + x1) / 2, y1 - (i + 0.5) * (y1 - y0) / categories
        else:
            x, y = x0 + (i + 0.5) * (x1 - x0) / categories, (y0 + y1) / 2
        page.mouse.move(x, y)
        page.wait_for_timeout(150)
        page.mouse.move(x + 1, y + 1)
        before = set(out)

        def read(before: set[str] = before) -> tuple[str, dict[str, int]] | None:
            got = chart.evaluate(TOOLTIP_JS)
            if not got or not got["names"] or got["title"] in before:
                return None
            return got["title"], dict(zip(got["names"], map(int, got["values"]), strict=True))

        title, values = wait_until(read, timeout=10, what=f"{testid} tooltip at category {i}")
        out[title] = values
    page.mouse.move(box["x"] - 20 if box["x"] > 20 else 1, 1)
    return out


def read_kpis(page: Any) -> dict[str, dict[str, str]]:
    out = {}
    cards = page.locator("[data-testid=kpis] .kpi")
    for i in range(cards.count()):
        card = cards.nth(i)
        yoy = card.locator(".kpi-yoy")
        muted = yoy.locator(".muted").text_content() or ""
        definition = card.get_by_test_id("kpi-definition")
        out[card.get_attribute("data-key") or ""] = {
            "value": norm(card.locator(".kpi-value").text_content()),
            "yoy": norm((yoy.text_content() or "").replace(muted, "")),
            "previous": norm(muted),
            "trend": yoy.get_attribute("data-trend") or "",
            "definition": norm(definition.text_content()) if definition.count() else "",
        }
    return out


def cell(td: Any) -> tuple[str, str]:
    """(figure, its year-on-year change) of a table cell: "12 <small>+3（+33.3%）</small>"."""
    small = td.locator("small")
    change = norm(small.text_content()) if small.count() else ""
    whole = norm(td.text_content())
    return norm(whole[: len(whole) - len(change)] if change else whole), change


def definition_texts(definition: str) -> dict[str, str]:
    """The wording of the page's definition (server/court_network/stats.py DEFINITIONS, zh)."""
    if definition == "all_closed":
        rate = "调解成功率 = 调解成功 ÷ 全部结案（含部分达成、调解不成、撤回）"
        days = "结案用时：全部结案（含撤回），自受理至结案"
    else:
        rate = "调解成功率 = 调解成功 ÷（调解成功 + 部分达成 + 调解不成），不含撤回"
        days = "结案用时：调解结案（不含撤回），自受理至结案"
    disputes = "纠纷数：受理的调解申请，及未经申请、经调解会议结案的案件（每案一次）"
    return {"disputes": disputes, "success_rate": rate, "median_days": days, "p90_days": days}


def stated_definition(page: Any) -> str:
    """Which definition the page says it counts by (its text next to the success rate)."""
    text = norm(page.locator("[data-testid=kpis] [data-key=success_rate]")
                .get_by_test_id("kpi-definition").text_content())
    if "不含撤回" in text:
        return "mediated"
    assert "全部结案" in text and "含" in text, text
    return "all_closed"


def check_stats_page(page: Any, want: dict[str, Any], definition: str) -> None:
    """Every figure the statistics page shows, against `want` (computed from the data set)."""
    kpis = read_kpis(page)
    assert list(kpis) == list(want["kpis"]), kpis.keys()
    texts = definition_texts(definition)
    for key, (m, kind) in want["kpis"].items():
        got = kpis[key]
        assert got["value"] == fmt(m[0], kind), (key, got, m)
        assert got["yoy"] == f"同比 {fmt_change(m, kind)}", (key, got, m)
        assert got["previous"] == f"（上年 {fmt(m[1], kind)}）", (key, got, m)
        assert got["trend"] == trend(key, m), (key, got, m)
        assert got["definition"] == texts.get(key, ""), (key, got)

    # per area: population, disputes, per 10,000, lawsuits, lawsuits per 10,000, success rate
    rows = page.locator("[data-testid=area-table] tbody tr")
    areas = {}
    for i in range(rows.count()):
        tds = rows.nth(i).locator("td")
        areas[norm(tds.nth(0).text_content())] = [cell(tds.nth(j)) for j in range(1, 7)]
    assert set(areas) == set(want["areas"])
    for name, w in want["areas"].items():
        pop = str(w["population"]) if w["population"] is not None else "—"
        assert areas[name] == [
            (pop, ""),
            (fmt(w["disputes"][0], "count"), fmt_change(w["disputes"], "count")),
            (fmt(w["disputes_per_10k"][0], "rate"), fmt_change(w["disputes_per_10k"], "rate")),
            (fmt(w["lawsuits"][0], "count"), ""),
            (fmt(w["lawsuits_per_10k"][0], "rate"), fmt_change(w["lawsuits_per_10k"], "rate")),
            (fmt(w["success_rate"][0], "ratio"), ""),
        ], name

    # per shared court: disputes (and change), settled, success rate
    section = page.locator("section.card").filter(
        has=page.locator("h3.card-title", has_text="按共享法庭")
    )
    rows = section.locator("tbody tr")
    courts = {}
    for i in range(rows.count()):
        tds = rows.nth(i).locator("td")
        courts[norm(tds.nth(0).text_content())] = [cell(tds.nth(j)) for j in range(1, 4)]
    assert set(courts) == set(want["courts"])
    for name, w in want["courts"].items():
        assert courts[name] == [
            (fmt(w["disputes"][0], "count"), fmt_change(w["disputes"], "count")),
            (fmt(w["settled"][0], "count"), ""),
            (fmt(w["success_rate"][0], "ratio"), ""),
        ], name

    # the charts: disputes by month (this year, last year) with settled; by case type
    page.locator("[data-testid=chart-month] canvas").wait_for()
    page.locator("[data-testid=chart-type] canvas").wait_for()
    assert tooltip_values(page, "chart-month", 12, horizontal=False) == want["months"]
    assert tooltip_values(page, "chart-type", len(want["types"]), horizontal=True) == want["types"]


def wait_kpis(page: Any, want: dict[str, Any], timeout: float = 30) -> None:
    """The page has loaded the figures asked for (a changed filter answers asynchronously)."""
    expect = {
        key: (fmt(m[0], kind), f"（上年 {fmt(m[1], kind)}）")
        for key, (m, kind) in want["kpis"].items()
    }
    deadline = time.time() + timeout
    while True:
        k = read_kpis(page)
        got = {key: (v["value"], v["previous"]) for key, v in k.items()}
        if got == expect:
            return
        if time.time() > deadline:
            raise AssertionError(f"KPIs shown {got}, computed {expect}")
        time.sleep(0.3)


# ─── the test ─────────────────────────────────────────────────────────────────────────────
@pytest.fixture(scope="module")
def network(server: Server, browser: Any) -> dict[str, Any]:
    """Areas, shared courts and one mediator made through the API (the demo has none)."""
    admin = Staff(browser, server, "admin", PASSWORDS["admin"])
    try:
        areas = {
            k: admin.send("POST", "/api/network/areas", {"name": n, "population": p})
            for k, (n, p) in AREAS.items()
        }
        courts = {
            k: admin.send(
                "POST",
                "/api/network/shared-courts",
                {"name": n, "kind": kind, "area_id": areas[a]["id"] if a else None},
            )
            for k, (n, kind, a) in COURTS.items()
        }
        judge = next(u for u in admin.get("/api/users") if u["username"] == "judge")
        # Labour disputes have a mediator; imported intakes never count against his maximum.
        admin.send(
            "PUT",
            f"/api/network/mediators/{judge['id']}",
            {
                "kind": "judge",
                "specialties": ["labour"],
                "shared_court_ids": [courts["community"]["id"]],
                "max_open": 5,
            },
        )
        zone = admin.get("/api/auth/me")["court"]["timezone"]
        return {"areas": areas, "courts": courts, "judge": judge, "zone": zone}
    finally:
        admin.close()


def test_import_history_then_every_statistics_figure(
    server: Server, browser: Any, network: dict[str, Any], screenshots: Path
) -> None:
    zone = ZoneInfo(network["zone"])
    assert network["zone"] == "Asia/Shanghai"  # the shipped default
    period = court_year() - 1
    xlsx_rows, gbk_rows = build_rows(period)
    rows = xlsx_rows + gbk_rows
    assert len(rows) == 52
    assert {r.outcome for r in rows} == {*CLOSING, None}
    assert len({r.case_type for r in rows}) == len(TYPES)

    page = new_page(browser, viewport={"width": 1366, "height": 900})
    staff_login(page, server, "clerk", PASSWORDS["clerk"], "/clerk")
    # The import page is reached from the network pages' navigation.
    page.goto(server.base_url + "/clerk/intakes")
    page.get_by_test_id("nav-import").click()
    page.wait_for_url("**/clerk/import")
    page.get_by_test_id("import-page").wait_for()
    help_text = page.get_by_test_id("import-file-step").inner_text()
    assert "UTF-8" in help_text and "GBK" in help_text and ".xlsx" in help_text

    # 1. The XLSX: "申请方" (the applicant) is not a header the server knows.
    def missing_applicant(errors: list[tuple[int, str, str]]) -> None:
        mapping = page.get_by_test_id("import-mapping")
        assert mapping.get_attribute("data-missing") == "applicant_name"
        assert "尚未对应的必填字段：申请人" in page.get_by_test_id("import-required").inner_text()
        assert [(r, f) for r, f, _ in errors] == [(1, "applicant_name")], errors
        assert "表头" in errors[0][2] and "缺少列 申请人" in errors[0][2]

    import_through_page(
        page, "历史案件.xlsx", xlsx_bytes(xlsx_rows), XLSX_MIME, xlsx_rows,
        ("申请方", "applicant_name"), ["序号", "备注"], "Excel 文件，已读取工作表「历史案件」",
        missing_applicant,
    )
    page.screenshot(path=str(screenshots / "import-result.png"), full_page=True)

    # 2. The GBK CSV: "化解结果" (the outcome) needs mapping; until then every closed row says
    #    its closing date lacks an outcome.
    closed_lines = [n + 2 for n, r in enumerate(gbk_rows) if r.closed is not None]

    def closing_without_outcome(errors: list[tuple[int, str, str]]) -> None:
        assert page.get_by_test_id("import-mapping").get_attribute("data-missing") == ""
        assert [(r, f) for r, f, _ in errors] == [(n, "outcome") for n in closed_lines], errors
        assert all("有结案日期须填结果" in text for _, _, text in errors)
        assert [r for r, _, _ in errors] == sorted(r for r, _, _ in errors)

    import_through_page(
        page, "历史案件.csv", gbk_csv_bytes(gbk_rows), "text/csv", gbk_rows,
        ("化解结果", "outcome"), [], "CSV 文件，按 GBK（GB18030） 编码读取",
        closing_without_outcome,
    )

    # 3. A file with bad rows: each error by its row, in row order (3, 10, 12 — not as text),
    #    in plain Chinese; the import stays disabled and nothing of it is written.
    data, wrong = bad_csv_bytes(period)
    upload(page, "有误.csv", data, "text/csv")
    errors = preview_errors(page)
    assert [(r, f) for r, f, _ in errors] == wrong, errors
    assert errors[0][2].startswith("第 3 行 · 案件类型：无法识别的案件类型「合同纠纷」，可填：婚姻家庭")
    assert errors[1][2] == "第 10 行 · 结案日期：结案日期早于受理日期"
    assert errors[2][2].startswith("第 12 行 · 共享法庭：没有名为「不存在的共享法庭」的共享法庭")
    assert "发现 3 处错误，涉及 3 行" in page.get_by_test_id("import-errors").inner_text()
    assert page.get_by_test_id("import-preview").get_attribute("data-valid") == "false"
    bad = page.get_by_test_id("import-preview-row")
    assert {bad.nth(i).get_attribute("data-row"): bad.nth(i).get_attribute("data-ok")
            for i in range(bad.count())}["10"] == "false"
    assert page.get_by_test_id("import-submit").is_disabled()
    page.screenshot(path=str(screenshots / "import-errors.png"), full_page=True)
    clerk = Staff(browser, server, "clerk", PASSWORDS["clerk"])
    try:
        intakes = clerk.get("/api/network/intakes", limit=500)
        assert len(intakes) == len(rows)
        assert all(i["channel"] == "imported" for i in intakes)
        assert not any(i["applicant_name"].startswith("错例") for i in intakes)
    finally:
        clerk.close()

    # 4. The statistics page for the period: every figure against the data set.
    page.goto(server.base_url + "/clerk/stats")
    page.get_by_test_id("kpis").wait_for()
    pick(page, "stats-year", str(period))
    definition = stated_definition(page)
    assert definition == "all_closed"  # the documented default (docs/network.md)
    want = expected(rows, period, definition, zone)
    wait_kpis(page, want)
    check_stats_page(page, want, definition)

    # today's backlog: the open imported intakes wait (never matched), longer than 7 days
    open_rows = [r for r in rows if r.outcome is None]
    backlog = page.get_by_test_id("stats-backlog")
    for key in ("unassigned", "waiting_longer"):
        figure = backlog.locator(f"[data-key={key}] .kpi-value")
        assert norm(figure.text_content()) == str(len(open_rows)), key
    items = page.get_by_test_id("stats-uncovered-type")
    uncovered = {
        items.nth(i).get_attribute("data-case-type"): (
            items.nth(i).get_attribute("data-reason"), items.nth(i).get_attribute("data-waiting")
        )
        for i in range(items.count())
    }
    assert uncovered == {
        t: ("no_specialist", str(sum(r.case_type == t for r in open_rows)))
        for t in TYPES if t != "labour"
    }
    workload = page.get_by_test_id("stats-workload-row")
    assert workload.count() == 1
    assert workload.first.get_attribute("data-user-id") == network["judge"]["id"]
    assert norm(workload.first.locator(".workload-count").text_content()) == "0 / 5"
    page.screenshot(path=str(screenshots / "stats-imported.png"), full_page=True)

    # the other definition, when the page offers the choice
    other = "mediated" if definition == "all_closed" else "all_closed"
    pick(page, "stats-definition", "调解结案" if other == "mediated" else "全部结案")
    wait_until(lambda: stated_definition(page) == other, what="the other definition")
    want = expected(rows, period, other, zone)
    wait_kpis(page, want)
    check_stats_page(page, want, other)

    # one shared court (the court's setting again): only its intakes
    pick(page, "stats-definition", "按系统设置")
    wait_until(lambda: stated_definition(page) == definition, what="the court's definition")
    pick(page, "stats-shared-court", COURTS["village"][0])
    want = expected(rows, period, definition, zone, court="village")
    wait_kpis(page, want)
    check_stats_page(page, want, definition)
    page.context.close()


def test_import_link_only_for_the_roles_that_may_import(server: Server, browser: Any) -> None:
    page = new_page(browser, viewport={"width": 1366, "height": 800})
    staff_login(page, server, "judge", PASSWORDS["judge"], "/console")
    page.goto(server.base_url + "/clerk/intakes")
    page.get_by_test_id("nav-stats").wait_for()
    assert page.get_by_test_id("nav-import").count() == 0
    page.goto(server.base_url + "/clerk/stats")
    page.get_by_test_id("stats-page").wait_for()
    assert page.get_by_test_id("nav-import").count() == 0
    page.context.close()
    page = new_page(browser, viewport={"width": 1366, "height": 800})
    staff_login(page, server, "admin", PASSWORDS["admin"], "/console")
    page.goto(server.base_url + "/clerk/intakes")
    page.get_by_test_id("nav-import").wait_for()
    page.context.close()
    # The clerk reaches it from the schedule page and from the statistics a history fills.
    page = new_page(browser, viewport={"width": 1366, "height": 800})
    staff_login(page, server, "clerk", PASSWORDS["clerk"], "/clerk")
    for start in ("/clerk", "/clerk/stats"):
        page.goto(server.base_url + start)
        page.get_by_test_id("nav-import").click()
        page.wait_for_url("**/clerk/import")
        page.get_by_test_id("import-page").wait_for()
    page.context.close()


def test_a_workbook_of_several_sheets_is_read_sheet_by_sheet(server: Server, browser: Any) -> None:
    """One sheet per year behind a blank Sheet1: the page reads the first sheet with data, lists
    every sheet, and reads the one picked; a blank one picked says so and keeps the choice.
    Nothing is imported here (the statistics test counts every intake)."""
    wb = Workbook()
    blank = wb.active
    assert blank is not None
    blank.title = "Sheet1"
    for year, names in (("2023年", ["一"]), ("2024年", ["二", "三"])):
        ws = wb.create_sheet(year)
        ws.append(["申请人", "被申请人", "案件类型", "受理日期"])
        for name in names:
            ws.append([f"分表甲{name}", f"分表乙{name}", "邻里", f"{year[:4]}-03-0{len(name)}"])
    buf = io.BytesIO()
    wb.save(buf)
    page = new_page(browser, viewport={"width": 1366, "height": 800})
    staff_login(page, server, "clerk", PASSWORDS["clerk"], "/clerk")
    page.goto(server.base_url + "/clerk/import")
    page.get_by_test_id("import-page").wait_for()
    upload(page, "历年.xlsx", buf.getvalue(), XLSX_MIME)
    chooser = page.get_by_test_id("import-sheets")
    assert chooser.get_attribute("data-sheets") == "Sheet1\n2023年\n2024年"
    assert "本文件有 3 个工作表" in chooser.inner_text()
    assert "已读取工作表「2023年」" in page.get_by_test_id("import-format").inner_text()

    def applicants() -> list[str]:
        rows = page.get_by_test_id("import-preview-row")
        return [rows.nth(i).locator("td").nth(3).inner_text() for i in range(rows.count())]

    assert applicants() == ["分表甲一"]

    def pick_sheet(name: str) -> None:
        page.get_by_test_id("import-sheet").click()
        option = page.locator(f".el-select-dropdown__item[data-sheet='{name}']:visible")
        option.click()
        option.wait_for(state="hidden")
        wait_idle(page)

    pick_sheet("2024年")
    wait_until(lambda: applicants() == ["分表甲二", "分表甲三"], what="the 2024 sheet's rows")
    assert "已读取工作表「2024年」" in page.get_by_test_id("import-format").inner_text()
    assert page.get_by_test_id("import-preview").get_attribute("data-total") == "2"
    pick_sheet("Sheet1")
    message = page.get_by_test_id("import-message")
    message.wait_for()
    assert "工作表「Sheet1」是空的" in message.inner_text()
    assert page.get_by_test_id("import-preview").count() == 0
    assert page.get_by_test_id("import-sheets").is_visible(), "the other sheets stay offered"
    pick_sheet("2023年")
    page.get_by_test_id("import-preview").wait_for()
    wait_until(lambda: applicants() == ["分表甲一"], what="the 2023 sheet again")
    assert page.get_by_test_id("import-message").count() == 0
    page.context.close()


def test_data_set_edges_are_where_the_court_says() -> None:
    """The data set's own premise: its midnight rows fall in the local year, not UTC's."""
    zone = ZoneInfo("Asia/Shanghai")
    period = court_year() - 1
    xlsx, gbk = build_rows(period)
    facts = {f.row.applicant: f for f in facts_of(xlsx + gbk, zone)}
    assert facts["元旦甲"].received.astimezone(UTC).year == period - 1
    assert facts["跨年甲"].closed is not None and facts["跨年甲"].closed.astimezone(UTC).year == period - 1
    assert local(facts["跨年甲"].closed, zone).year == period
    assert facts["当日甲"].closed == facts["当日甲"].received
    assert local(facts["元旦甲"].received, zone).date() == date(period, 1, 1)
