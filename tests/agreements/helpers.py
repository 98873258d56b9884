"""Shared helpers: signature images and clients that record the agreement/identity events."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image, ImageDraw

from signaling.client import RoomClient
from tests.signaling.conftest import LiveSession

APPLICANT_ID = "330106199001011205"
RESPONDENT_ID = "11010519491231002x"  # lower-case x is accepted

# Default configuration (identity check required): unverified parties are admitted with the
# mediator's written reason, as the court rules demand.
ADMIT_REASON = "测试：身份未核验，调解员书面准许 / test: admitted unverified with a reason"


def signature_png(seed: int = 0) -> str:
    img = Image.new("RGB", (300, 100), "white")
    draw = ImageDraw.Draw(img)
    draw.line([(10, 80), (80 + seed, 20), (150, 70), (290, 15)], fill="black", width=4)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def record_feature_events(c: RoomClient) -> RoomClient:
    for name in ("agreement_state", "identity_check"):
        c.sio.on(name, c._recorder(name))
    return c


def last(c: RoomClient, event: str) -> Any:
    for name, data in reversed(c.events):
        if name == event:
            return data
    return None


async def join(live: LiveSession, who: str) -> RoomClient:
    c = record_feature_events(live.client(who))
    await c.connect()
    await c.join(consent=True)
    return c


async def admitted_room(live: LiveSession) -> tuple[RoomClient, RoomClient, RoomClient]:
    mediator = await join(live, "mediator")
    applicant = await join(live, "applicant")
    respondent = await join(live, "respondent")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 2)
    for who in ("applicant", "respondent"):
        await mediator.call(
            "admit", {"participant_id": live.pids[who], "override_reason": ADMIT_REASON}
        )
    for c in (applicant, respondent):
        await c.wait_until(lambda c=c: c.presence == "admitted")
    return mediator, applicant, respondent
