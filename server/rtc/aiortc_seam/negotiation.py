"""Negotiation seams (5): what a transceiver negotiated (`RTCRtpTransceiver._codecs`), and
renegotiation offers that keep the client's header-extension ids and payload types.

Importing this module wraps `aiortc.rtcpeerconnection.HEADER_EXTENSIONS` and `.CODECS` (once);
the package imports it first, so that happens whichever part of the seam is imported.
"""

from __future__ import annotations

import contextvars
import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager

import aiortc.rtcpeerconnection as _aiortc_pc
from aiortc import RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.rtcpeerconnection import is_codec_compatible as _is_codec_compatible
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters

from .pin import TRANSCEIVER_CODECS, AiortcSeamError


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """Codecs negotiated for a transceiver, preferred first (what the remote will send)."""
    codecs = getattr(transceiver, TRANSCEIVER_CODECS, None)
    if not isinstance(codecs, list):
        raise AiortcSeamError("RTCRtpTransceiver._codecs is gone")
    return list(codecs)


# ---- header-extension ids of renegotiation offers (seam 5) ----------------------------------

_EXTMAP = re.compile(r"^a=extmap:(\d+)(?:/\w+)?\s+(\S+)", re.MULTILINE)
_NEGOTIATED_EXTENSIONS: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar(
    "negotiated_header_extensions", default=None
)
_NEGOTIATED_CODECS: contextvars.ContextVar[dict[str, list[RTCRtpCodecParameters]] | None] = (
    contextvars.ContextVar("negotiated_codecs", default=None)
)


def header_extension_ids(sdp: str) -> dict[str, int]:
    """`uri -> id` of every a=extmap line of an SDP (the ids are shared across a BUNDLE)."""
    return {uri: int(ext_id) for ext_id, uri in _EXTMAP.findall(sdp)}


class _NegotiatedHeaderExtensions(dict[str, list[RTCRtpHeaderExtensionParameters]]):
    """aiortc's per-kind extension table; inside `offer_with_extension_ids` it answers with the
    ids the remote side negotiated and leaves out extensions it did not negotiate."""

    def __getitem__(self, kind: str) -> list[RTCRtpHeaderExtensionParameters]:
        defaults = super().__getitem__(kind)
        ids = _NEGOTIATED_EXTENSIONS.get()
        if ids is None:
            return defaults
        return [
            RTCRtpHeaderExtensionParameters(id=ids[ext.uri], uri=ext.uri)
            for ext in defaults
            if ext.uri in ids
        ]


def _pt(codec: RTCRtpCodecParameters) -> int:
    if codec.payloadType is None:
        raise AiortcSeamError(f"{codec.mimeType} has no payload type")
    return codec.payloadType


def _codecs_keeping_payload_types(
    defaults: dict[str, list[RTCRtpCodecParameters]],
    negotiated: dict[str, list[RTCRtpCodecParameters]],
) -> dict[str, list[RTCRtpCodecParameters]]:
    """aiortc's codecs (its format parameters, so codec preferences still match) renumbered to
    the payload types the client negotiated. Codecs the client did not negotiate keep aiortc's
    payload type where it is free, else get a free one: aiortc routes packets by payload type
    across the whole BUNDLE, so no number may mean two codecs."""
    taken = {c.payloadType for codecs in negotiated.values() for c in codecs}

    def free(preferred: int) -> int:
        if preferred not in taken:
            taken.add(preferred)
            return preferred
        for pt in range(96, 128):
            if pt not in taken:
                taken.add(pt)
                return pt
        raise AiortcSeamError("no free dynamic payload type")

    tables: dict[str, list[RTCRtpCodecParameters]] = {}
    for kind in sorted(defaults):
        ours = negotiated.get(kind, [])
        assigned: dict[int, int] = {}  # aiortc's payload type -> the one we offer
        for codec in defaults[kind]:
            if is_rtx(codec):
                continue
            match = next(
                (
                    n
                    for n in ours
                    if not is_rtx(n)
                    and n.payloadType not in assigned.values()
                    and _is_codec_compatible(codec, n)
                ),
                None,
            )
            assigned[_pt(codec)] = _pt(match) if match is not None else free(_pt(codec))
        table: list[RTCRtpCodecParameters] = []
        for codec in defaults[kind]:
            if not is_rtx(codec):
                table.append(dataclasses.replace(codec, payloadType=assigned[_pt(codec)]))
                continue
            apt = assigned.get(int(str(codec.parameters.get("apt", -1))))
            if apt is None:
                continue
            rtx = next((n for n in ours if is_rtx(n) and n.parameters.get("apt") == apt), None)
            pt = _pt(rtx) if rtx is not None else free(_pt(codec))
            table.append(dataclasses.replace(codec, payloadType=pt, parameters={"apt": apt}))
        tables[kind] = table
    return tables


class _NegotiatedCodecs(dict[str, list[RTCRtpCodecParameters]]):
    """aiortc's per-kind codec table; inside `offer_as_negotiated` it keeps the payload types
    negotiated on the client's first offer."""

    def __getitem__(self, kind: str) -> list[RTCRtpCodecParameters]:
        tables = _NEGOTIATED_CODECS.get()
        if tables and kind in tables:
            return list(tables[kind])
        return super().__getitem__(kind)

    def defaults(self) -> dict[str, list[RTCRtpCodecParameters]]:
        return {kind: dict.__getitem__(self, kind) for kind in self}


def _install_tables() -> None:
    # Private re-exports of aiortc.codecs inside aiortc.rtcpeerconnection.
    table = getattr(_aiortc_pc, "HEADER_EXTENSIONS")  # noqa: B009
    if not isinstance(table, _NegotiatedHeaderExtensions):
        setattr(_aiortc_pc, "HEADER_EXTENSIONS", _NegotiatedHeaderExtensions(table))  # noqa: B010
    codecs = getattr(_aiortc_pc, "CODECS")  # noqa: B009
    if not isinstance(codecs, _NegotiatedCodecs):
        setattr(_aiortc_pc, "CODECS", _NegotiatedCodecs(codecs))  # noqa: B010


_install_tables()


def transceiver_codecs_by_kind(
    transceivers: list[RTCRtpTransceiver],
) -> dict[str, list[RTCRtpCodecParameters]]:
    """Per kind, the codecs (with the remote's payload types) negotiated so far."""
    out: dict[str, list[RTCRtpCodecParameters]] = {}
    for transceiver in transceivers:
        codecs = getattr(transceiver, TRANSCEIVER_CODECS, None)
        if isinstance(codecs, list) and codecs and transceiver.kind not in out:
            out[transceiver.kind] = list(codecs)
    return out


@contextmanager
def offer_as_negotiated(
    extension_ids: dict[str, int] | None,
    codecs: dict[str, list[RTCRtpCodecParameters]] | None,
) -> Iterator[None]:
    """Within this block, `RTCPeerConnection.createOffer` keeps the header-extension ids and
    payload types negotiated on the client's first offer.

    Context variables, so concurrent offers of other peers (other tasks) are unaffected.
    """
    ext_token = _NEGOTIATED_EXTENSIONS.set(extension_ids)
    table = getattr(_aiortc_pc, "CODECS")  # noqa: B009
    tables = (
        _codecs_keeping_payload_types(table.defaults(), codecs)
        if codecs and isinstance(table, _NegotiatedCodecs)
        else None
    )
    codec_token = _NEGOTIATED_CODECS.set(tables)
    try:
        yield
    finally:
        _NEGOTIATED_CODECS.reset(codec_token)
        _NEGOTIATED_EXTENSIONS.reset(ext_token)
