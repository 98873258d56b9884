"""Model provisioning from the PyPI packages, and refusal of anything that does not verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from transcript.model import (
    WHISPER_BASE_SHA256,
    ModelError,
    ModelParts,
    assemble_model,
    default_model_dir,
    ensure_model,
    find_whisper_base_parts,
    sha256_of,
)


def test_base_model_is_assembled_once_and_verified(model_dir: Path, tmp_path: Path) -> None:
    assert sha256_of(model_dir / "model.bin") == WHISPER_BASE_SHA256
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        assert (model_dir / name).is_file()
    # A second start finds the directory and does not rebuild it.
    data_dir = model_dir.parent.parent
    assert default_model_dir(data_dir) == model_dir
    mtime = (model_dir / "model.bin").stat().st_mtime_ns
    assert ensure_model(data_dir) == model_dir
    assert (model_dir / "model.bin").stat().st_mtime_ns == mtime


def test_a_model_with_another_checksum_is_refused(tmp_path: Path) -> None:
    real = find_whisper_base_parts()
    tampered = tmp_path / "model.bin.part2"
    data = bytearray(real.bin_parts[1].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    tampered.write_bytes(bytes(data))
    parts = ModelParts((real.bin_parts[0], tampered), real.support_files)
    target = tmp_path / "models" / "whisper-base"

    with pytest.raises(ModelError, match="SHA-256"):
        assemble_model(parts, target)

    assert not target.exists()
    assert list((tmp_path / "models").iterdir()) == []  # no staging left behind


def test_a_configured_model_directory_is_used_as_is(tmp_path: Path) -> None:
    small = tmp_path / "whisper-small"
    small.mkdir()
    (small / "model.bin").write_bytes(b"placed by the administrator")
    assert ensure_model(tmp_path / "data", small) == small
    assert not (tmp_path / "data").exists()


def test_a_configured_directory_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no model\.bin"):
        ensure_model(tmp_path / "data", tmp_path / "nowhere")
