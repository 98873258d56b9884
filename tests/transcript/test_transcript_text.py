"""Whisper's output made fit for a Simplified-Chinese transcript."""

from __future__ import annotations

from transcript.chinese import (
    collapse_repeats,
    normalize_punctuation,
    to_simplified,
    to_transcript_text,
)


def test_traditional_characters_become_simplified() -> None:
    assert to_simplified("小區的電梯經常壞，車位太亂") == "小区的电梯经常坏，车位太乱"
    assert to_simplified("物业费三千元") == "物业费三千元"


def test_ascii_punctuation_next_to_chinese_becomes_full_width() -> None:
    assert normalize_punctuation("被申请人,你有什么意见?") == "被申请人，你有什么意见？"
    assert normalize_punctuation("我不同意 , 太贵了!") == "我不同意，太贵了！"
    assert normalize_punctuation("好的.") == "好的。"


def test_amounts_stay_readable() -> None:
    assert normalize_punctuation("共计3,000元,另付3.5万元") == "共计3,000元，另付3.5万元。"
    assert to_transcript_text("物業費三千元") == "物业费三千元。"


def test_a_caption_line_ends_a_sentence_and_has_no_spaces_between_hanzi() -> None:
    assert normalize_punctuation("我要求 对方支付,") == "我要求对方支付。"
    assert normalize_punctuation("OK then") == "OK then"
    assert normalize_punctuation("") == ""


def test_decoding_loops_are_cut_but_ordinary_repetition_stays() -> None:
    assert collapse_repeats("坚强,奸,奸,奸,奸,奸,") == "坚强,奸,"
    assert collapse_repeats("谢谢谢谢") == "谢谢谢谢"
    assert collapse_repeats("好的好的") == "好的好的"
