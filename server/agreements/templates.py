"""Built-in templates per case type, and filling their fields from the case.

Fields are written ``{{name}}``; unknown names stay as they are, so an admin's typo is visible in
the draft rather than silently dropped. Court admins override a template per case type and kind.

A clause names parties by the fields, never by a fixed role: in a property dispute the owner may
be the applicant or the respondent, so "被申请人向申请人支付物业服务费" is wrong half the time.
``{{organisation}}`` and ``{{individual}}`` are the organisation side (物业公司, 用人单位, 银行 …)
and the natural-person side, each with its role; ``{{terms}}`` is the built-in clause block for
the case type, chosen by which role the organisation has (``terms_for``).

The court and the case number are not in the text: the PDF prints them once, in its header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from server.agreements.models import DocKind
from server.agreements.pdf import zone
from server.models import CaseType, PartyRole

CASE_TYPE_LABELS = {
    CaseType.marriage_family.value: "婚姻家庭纠纷",
    CaseType.property_management.value: "物业服务合同纠纷",
    CaseType.finance_insurance.value: "金融保险纠纷",
    CaseType.neighbour.value: "相邻关系（邻里）纠纷",
    CaseType.labour.value: "劳动争议",
    CaseType.other.value: "民事纠纷",
}

ROLE_LABELS = {PartyRole.applicant.value: "申请人", PartyRole.respondent.value: "被申请人"}

FIELDS = (
    "court",
    "case_number",
    "case_type",
    "parties",
    "applicant",  # 申请人张三（names only, "、"-joined）
    "respondent",
    "organisation",  # the organisation side with its role: 被申请人某物业服务有限公司
    "individual",  # the natural-person side with its role: 申请人张三
    "claim",  # what is in dispute: the case's description, else its title
    "terms",  # the built-in clauses for the case type and the organisation's role
    "mediator",
    "date",
)

# Who the organisation side is in each case type, when the case does not say (no party, or
# both sides, marked as an organisation): a blank to fill in rather than a guess.
SIDE_PLACEHOLDERS: dict[str, tuple[str, str]] = {
    CaseType.property_management.value: ("物业服务企业____", "业主____"),
    CaseType.finance_insurance.value: ("金融机构____", "____"),
    CaseType.labour.value: ("用人单位____", "劳动者____"),
}
DEFAULT_PLACEHOLDERS = ("____", "____")

_HEAD = (
    "案由：{{case_type}}\n\n"
    "当事人：\n{{parties}}\n\n"
    "调解员：{{mediator}}\n\n"
    "纠纷事项：{{claim}}\n\n"
)

_TAIL = (
    "\n本协议经各方当事人签名后生效。各方确认上述内容系其真实意思表示。"
    "当事人可以自本协议生效之日起三十日内共同向人民法院申请司法确认。\n\n"
    "日期：{{date}}\n"
)

# Clause blocks per case type; a dict keyed by the organisation's role where the direction of
# the obligations depends on it ("" is the variant when no single side is an organisation).
_CLAUSES: dict[str, str | dict[str, str]] = {
    CaseType.marriage_family.value: (
        "一、（申请人{{applicant}}与被申请人{{respondent}}的婚姻关系 / 子女抚养）\n"
        "二、（抚养费数额、支付方式及期限）\n"
        "三、（探望权的行使方式）\n"
        "四、（共同财产的分割）\n"
    ),
    # The owner pays the service fee, the company does the repairs: whoever applied.
    CaseType.property_management.value: {
        PartyRole.applicant.value: (
            "一、{{individual}}于____年__月__日前向{{organisation}}支付物业服务费人民币____元；\n"
            "二、{{organisation}}于____年__月__日前完成（维修/整改事项）；\n"
            "三、其他：\n"
        ),
        PartyRole.respondent.value: (
            "一、{{organisation}}于____年__月__日前完成（维修/整改事项）；\n"
            "二、{{individual}}于____年__月__日前向{{organisation}}支付物业服务费人民币____元；\n"
            "三、其他：\n"
        ),
        "": (
            "一、{{individual}}于____年__月__日前向{{organisation}}支付物业服务费人民币____元；\n"
            "二、{{organisation}}于____年__月__日前完成（维修/整改事项）；\n"
            "三、其他：\n"
        ),
    },
    # A financial institution that applies recovers a debt; one that is the respondent pays
    # (保险金、理赔款、退还款项) to the person who applied.
    CaseType.finance_insurance.value: {
        PartyRole.applicant.value: (
            "一、{{individual}}确认尚欠{{organisation}}本金人民币____元、利息人民币____元；\n"
            "二、还款方式与期限：\n"
            "三、如{{individual}}未按期足额履行，{{organisation}}有权就全部未付款项申请强制执行；\n"
        ),
        PartyRole.respondent.value: (
            "一、{{organisation}}于____年__月__日前向{{individual}}支付（保险金 / 理赔款 / "
            "退还款项）人民币____元；\n"
            "二、支付方式：\n"
            "三、如{{organisation}}未按期足额履行，{{individual}}有权就全部未付款项申请强制执行；\n"
        ),
        "": (
            "一、被申请人{{respondent}}确认尚欠申请人{{applicant}}款项人民币____元；\n"
            "二、支付方式与期限：\n"
            "三、如被申请人{{respondent}}未按期足额履行，申请人{{applicant}}有权就全部未付款项"
            "申请强制执行；\n"
        ),
    },
    CaseType.neighbour.value: (
        "一、（通行 / 采光 / 排水 / 噪音等相邻事项的处理）\n"
        "二、（损失赔偿数额及支付期限）\n"
        "三、申请人{{applicant}}与被申请人{{respondent}}今后应相互尊重、和睦相处。\n"
    ),
    # The employer pays the worker, whichever of them applied.
    CaseType.labour.value: (
        "一、{{organisation}}（用人单位）于____年__月__日前向{{individual}}（劳动者）"
        "支付工资/经济补偿人民币____元；\n"
        "二、{{organisation}}与{{individual}}的劳动关系于____年__月__日解除；\n"
        "三、双方就本争议再无其他争议。\n"
    ),
    CaseType.other.value: "一、\n二、\n三、\n",
}

_FAILURE = (
    "案由：{{case_type}}\n\n"
    "当事人：\n{{parties}}\n\n"
    "调解员：{{mediator}}\n\n"
    "申请人{{applicant}}的请求：{{claim}}\n\n"
    "经调解，双方当事人未能达成调解协议，本次调解终结。\n\n"
    "双方当事人确认的无争议事实（如有）：\n"
    "一、\n\n"
    "说明：调解过程中当事人为达成调解协议作出的让步、承诺及提出的方案，"
    "不记入本记录，不得在其后的诉讼中作为对其不利的根据。\n\n"
    "日期：{{date}}\n"
)


@dataclass(frozen=True)
class Template:
    title: str
    body: str


def terms_for(case_type: str, organisation_role: str) -> str:
    """The clause block for ``case_type`` when the organisation is the ``organisation_role``
    ("applicant" / "respondent"; "" when no single side is an organisation). Still has fields."""
    clauses = _CLAUSES.get(case_type, _CLAUSES[CaseType.other.value])
    if isinstance(clauses, str):
        return clauses
    return clauses.get(organisation_role, clauses[""])


def placeholders(case_type: str) -> tuple[str, str]:
    """(organisation, individual) blanks for a case that does not say who the organisation is."""
    return SIDE_PLACEHOLDERS.get(case_type, DEFAULT_PLACEHOLDERS)


def party_fields(
    case_type: str, names: dict[str, list[str]], organisation_roles: set[str]
) -> dict[str, str]:
    """The fields that name the parties: ``names`` maps "applicant"/"respondent" to the names
    in that role, ``organisation_roles`` the roles with an organisation among them."""

    def joined(role: str) -> str:
        return "、".join(names.get(role) or []) or "____"

    org_role = ""
    roles = [r for r in ROLE_LABELS if r in organisation_roles]
    # Only one side being an organisation says who owes what; two companies (or none) do not.
    if len(roles) == 1:
        org_role = roles[0]
    if org_role:
        person_role = next(r for r in ROLE_LABELS if r != org_role)
        organisation = ROLE_LABELS[org_role] + joined(org_role)
        individual = ROLE_LABELS[person_role] + joined(person_role)
    else:
        organisation, individual = placeholders(case_type)
    return {
        "applicant": joined(PartyRole.applicant.value),
        "respondent": joined(PartyRole.respondent.value),
        "organisation": organisation,
        "individual": individual,
        "terms": terms_for(case_type, org_role),
    }


def court_date(time_zone: str, at: datetime | None = None) -> str:
    """The date a document bears: today in the court's zone (not the server's, not UTC+8)."""
    local = (at or datetime.now(UTC)).astimezone(zone(time_zone))
    return f"{local.year}年{local.month}月{local.day}日"


def default_template(case_type: str, kind: str) -> Template:
    if kind == DocKind.failure_record.value:
        return Template("调解不成记录（无争议事实确认）", _FAILURE)
    body = _HEAD + "经本院主持调解，各方当事人自愿达成如下协议：\n{{terms}}" + _TAIL
    return Template("调解协议书", body)


def fill(body: str, values: dict[str, str]) -> str:
    # {{terms}} first: its clauses name the parties through the other fields.
    if "terms" in values:
        body = body.replace("{{terms}}", values["terms"])
    for name, value in values.items():
        body = body.replace("{{" + name + "}}", value)
    return body
