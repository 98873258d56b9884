"""Verification of a sealed session folder: signature, every file's hash, the event-log chain."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .event_log import check_chain
from .fsutil import sha256_file
from .keys import fingerprint, load_public_key, signature_valid
from .layout import EVENT_LOG_NAME, MANIFEST_NAME, OPEN_MARKER_NAME, SIGNATURE_NAME, relative_name
from .manifest import MANIFEST_FORMAT, folder_files

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding. ``file`` is the folder-relative name; ``line`` an event-log line (from 1)."""

    code: str
    message: str
    file: str | None = None
    line: int | None = None
    severity: Severity = "error"


@dataclass(slots=True)
class VerifyReport:
    folder: Path
    problems: list[Problem] = field(default_factory=list)
    files_checked: int = 0
    event_log_entries: int = 0
    signer_fingerprint: str | None = None
    # True only when the signature was checked against a key the caller trusts.
    signer_trusted: bool = False
    interrupted: bool | None = None
    case: str | None = None
    session: str | None = None

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def add(self, code: str, message: str, *, file: str | None = None, line: int | None = None,
            severity: Severity = "error") -> None:
        self.problems.append(Problem(code, message, file, line, severity))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["folder"] = str(self.folder)
        out["ok"] = self.ok
        return out


def verify_folder(path: Path, trusted_key: Ed25519PublicKey | None = None) -> VerifyReport:
    """Check a sealed session folder; every failure is named (file, or event-log line).

    Without ``trusted_key`` the signature is checked against the key written in the manifest,
    which proves the folder is unchanged since sealing but not who sealed it; the report then
    carries a warning. Blocking (hashes every file).
    """
    folder = Path(path)
    report = VerifyReport(folder)
    manifest_path, sig_path = folder / MANIFEST_NAME, folder / SIGNATURE_NAME
    if not manifest_path.is_file():
        report.add("manifest_missing", "缺少清单 / manifest.json is missing", file=MANIFEST_NAME)
        return report
    raw = manifest_path.read_bytes()
    try:
        manifest = json.loads(raw)
        if manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unknown format {manifest.get('format')!r}")
    except ValueError as exc:
        report.add("manifest_invalid", f"清单无法解析 / manifest.json unreadable: {exc}",
                   file=MANIFEST_NAME)
        return report
    report.case, report.session = manifest.get("case"), manifest.get("session")
    report.interrupted = manifest.get("interrupted")

    _check_signature(report, manifest, raw, sig_path, trusted_key)
    _check_files(report, folder, manifest)
    _check_event_log(report, folder, manifest)
    if (folder / OPEN_MARKER_NAME).exists():
        report.add("still_open", "录制仍在进行或未恢复 / recording still open (not recovered)",
                   file=OPEN_MARKER_NAME, severity="warning")
    return report


def _check_signature(
    report: VerifyReport, manifest: dict[str, Any], raw: bytes, sig_path: Path,
    trusted_key: Ed25519PublicKey | None,
) -> None:
    if not sig_path.is_file():
        report.add("signature_missing", "缺少签名 / manifest.json.sig is missing",
                   file=SIGNATURE_NAME)
        return
    key = trusted_key
    if key is None:
        try:
            key = load_public_key(manifest["signer"]["public_key_pem"].encode())
        except (KeyError, TypeError, ValueError) as exc:
            report.add("signer_invalid", f"清单中的公钥无效 / signer key in manifest unusable: {exc}",
                       file=MANIFEST_NAME)
            return
        report.add("signer_untrusted",
                   "签名仅用清单内公钥核对，未与可信公钥比对 / signature checked against the "
                   "manifest's own key only; pass the server's public key to trust it",
                   severity="warning")
    report.signer_fingerprint = fingerprint(key)
    if signature_valid(key, sig_path.read_bytes(), raw):
        report.signer_trusted = trusted_key is not None
    else:
        report.add("signature_invalid",
                   "签名无效（清单被改动或签名密钥不符） / signature invalid (manifest changed or "
                   "signed by another key)", file=SIGNATURE_NAME)


def _check_files(report: VerifyReport, folder: Path, manifest: dict[str, Any]) -> None:
    listed: set[str] = set()
    for entry in manifest.get("files", []):
        name = str(entry.get("name"))
        listed.add(name)
        path = folder / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            # A forged manifest must not send the verifier to read files outside the folder.
            report.add("file_name_invalid", f"文件名非法 / invalid file name: {name}", file=name)
            continue
        if not path.is_file():
            report.add("file_missing", f"文件缺失 / file missing: {name}", file=name)
            continue
        sha, size = sha256_file(path)
        report.files_checked += 1
        if size != entry.get("size"):
            report.add("size_mismatch",
                       f"文件大小不符 / size differs: {name} ({size} ≠ {entry.get('size')})",
                       file=name)
        if sha != entry.get("sha256"):
            report.add("hash_mismatch", f"文件哈希不符（内容被改动） / SHA-256 differs: {name}",
                       file=name)
    for path in folder_files(folder):
        name = relative_name(folder, path)
        if name not in listed:
            report.add("file_unlisted", f"清单未登记的文件 / file not in manifest: {name}",
                       file=name)


def _check_event_log(report: VerifyReport, folder: Path, manifest: dict[str, Any]) -> None:
    sealed = manifest.get("event_log") or {}
    path = folder / EVENT_LOG_NAME
    if not path.is_file():
        if sealed.get("entries"):
            report.add("event_log_missing", "事件日志缺失 / event log missing", file=EVENT_LOG_NAME)
        return
    chain = check_chain(path)
    report.event_log_entries = chain.entries
    if not chain.ok:
        report.add("event_log_broken",
                   f"事件日志第 {chain.broken_line} 行被改动 / event log line "
                   f"{chain.broken_line} broken: {chain.problem}",
                   file=EVENT_LOG_NAME, line=chain.broken_line)
        return
    if chain.head != sealed.get("head_sha256") or chain.entries != sealed.get("entries"):
        # The chain holds together but does not end where the seal says: the tail was changed,
        # cut or extended after sealing.
        line = min(chain.entries, int(sealed.get("entries") or 0)) or chain.entries
        report.add("event_log_head_mismatch",
                   f"事件日志末尾与清单不符（约第 {line} 行） / event log does not end as sealed "
                   f"({chain.entries} entries, sealed {sealed.get('entries')}; check line {line})",
                   file=EVENT_LOG_NAME, line=line)
