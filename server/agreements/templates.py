"""Built-in templates per case type, and filling their fields from the case.

Fields are written ``{{name}}``; unknown names stay as they are, so an admin's typo is visible in
the draft rather than silently dropped. Court admins override a template per case type and kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.agreements.models import DocKind
from server.models import CaseType

CASE_TYPE_LABELS = {
    CaseType.marriage_family.value: "婚姻家庭纠纷",
    CaseType.property_management.value: "物业服务合同纠纷",
    CaseType.finance_insurance.value: "金融保险纠纷",
    CaseType.neighbour.value: "相邻关系（邻里）纠纷",
    CaseType.labour.value: "劳动争议",
    CaseType.other.value: "民事纠纷",
}

FIELDS = ("court", "case_number", "case_type", "parties", "mediator", "date")

_HEAD = (
    "{{court}}\n"
    "案号：{{case_number}}\n"
    "案由：{{case_type}}\n\n"
    "当事人：\n{{parties}}\n\n"
    "调解员：{{mediator}}\n\n"
)

_TAIL = (
    "\n本协议经各方当事人签名后生效。各方确认上述内容系其真实意思表示。"
    "当事人可以自本协议生效之日起三十日内共同向人民法院申请司法确认。\n\n"
    "日期：{{date}}\n"
)

_CLAUSES = {
    CaseType.marriage_family.value: (
        "一、（婚姻关系 / 子女抚养）\n"
        "二、（抚养费数额、支付方式及期限）\n"
        "三、（探望权的行使方式）\n"
        "四、（共同财产的分割）\n"
    ),
    CaseType.property_management.value: (
        "一、被申请人于____年__月__日前向申请人支付物业服务费人民币____元；\n"
        "二、申请人于____年__月__日前完成（维修/整改事项）；\n"
        "三、其他：\n"
    ),
    CaseType.finance_insurance.value: (
        "一、被申请人确认尚欠申请人本金人民币____元、利息人民币____元；\n"
        "二、还款方式与期限：\n"
        "三、如被申请人未按期足额履行，申请人有权就全部未付款项申请强制执行；\n"
    ),
    CaseType.neighbour.value: (
        "一、（通行 / 采光 / 排水 / 噪音等相邻事项的处理）\n"
        "二、（损失赔偿数额及支付期限）\n"
        "三、双方今后应相互尊重、和睦相处。\n"
    ),
    CaseType.labour.value: (
        "一、用人单位于____年__月__日前向劳动者支付工资/经济补偿人民币____元；\n"
        "二、双方劳动关系于____年__月__日解除；\n"
        "三、双方就本争议再无其他争议。\n"
    ),
    CaseType.other.value: "一、\n二、\n三、\n",
}

_FAILURE = (
    "{{court}}\n"
    "案号：{{case_number}}\n"
    "案由：{{case_type}}\n\n"
    "当事人：\n{{parties}}\n\n"
    "调解员：{{mediator}}\n\n"
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


def default_template(case_type: str, kind: str) -> Template:
    if kind == DocKind.failure_record.value:
        return Template("调解不成记录（无争议事实确认）", _FAILURE)
    clauses = _CLAUSES.get(case_type, _CLAUSES[CaseType.other.value])
    body = _HEAD + "经本院主持调解，各方当事人自愿达成如下协议：\n" + clauses + _TAIL
    return Template("调解协议书", body)


def fill(body: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        body = body.replace("{{" + name + "}}", value)
    return body
