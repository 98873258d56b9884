"""Making Whisper's Chinese output fit a Simplified-Chinese court transcript."""

from __future__ import annotations

import re
import threading
from functools import cache

import opencc

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff"
_FULL_WIDTH = {",": "，", "?": "？", "!": "！", ";": "；", ":": "：", "(": "（", ")": "）"}
# ASCII punctuation next to a Chinese character is Whisper's habit, not the speaker's.
_ASCII_PUNCT = re.compile(rf"(?<=[{_CJK}])\s*([,?!;:])\s*|\s*([,?!;:])\s*(?=[{_CJK}])")
# A full stop between two digits is a decimal point (3.5万); elsewhere after Chinese it ends a
# sentence.
_ASCII_STOP = re.compile(rf"(?<=[{_CJK}])\.(?!\d)")
_CJK_SPACE = re.compile(
    rf"(?<=[{_CJK}，。？！；：、])\s+(?=[{_CJK}])|(?<=[{_CJK}])\s+(?=[，。？！；：、])"
)
_TERMINAL = "。？！…"
# Greedy decoding of unclear speech can loop ("奸，奸，奸，…", a whole clause forty times).
# People do repeat a word twice (谢谢谢谢, 好的好的), so only three or more repeats of a
# multi-character unit, or five of one character, are taken as a loop.
_REPEATED_UNIT = re.compile(r"(.{2,12}?)\1{2,}")
_REPEATED_CHAR = re.compile(r"(.)\1{4,}")
_lock = threading.Lock()


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert Traditional characters to Simplified (OpenCC ``t2s``; 亂 → 乱, 車 → 车)."""
    # One converter is shared by recognition threads; the OpenCC binding gives no thread-safety
    # promise, and conversion takes microseconds, so a lock costs nothing measurable.
    with _lock:
        return str(_t2s().convert(text))


def normalize_punctuation(text: str) -> str:
    """Full-width punctuation, no stray spaces, and a sentence end for a caption line."""
    text = _ASCII_PUNCT.sub(lambda m: _FULL_WIDTH[m.group(1) or m.group(2)], text)
    text = _ASCII_STOP.sub("。", text)
    text = _CJK_SPACE.sub("", text).strip()
    if text and re.search(f"[{_CJK}]", text) and text[-1] not in _TERMINAL:
        text = text.rstrip("，；：、,;:") + "。"
    return text


def collapse_repeats(text: str) -> str:
    """Cut decoding loops down to one occurrence of the repeated unit."""
    return _REPEATED_CHAR.sub(r"\1\1", _REPEATED_UNIT.sub(r"\1", text))


def to_transcript_text(text: str) -> str:
    """Whisper output → Simplified Chinese with Chinese punctuation, loops removed."""
    return normalize_punctuation(collapse_repeats(to_simplified(text)))
