"""``shared-court verify FOLDER``: check a sealed recording from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .keys import PUBLIC_KEY_NAME, load_public_key
from .verify import VerifyReport, verify_folder

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shared-court verify",
        description="校验录像文件夹（签名、文件哈希、事件日志链） / verify a sealed session "
                    "folder (signature, file hashes, event-log chain)",
    )
    parser.add_argument("folder", type=Path, help="会话文件夹 / session folder")
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--key", type=Path,
                     help="可信的服务器公钥 PEM / trusted server public key (PEM)")
    key.add_argument("--keys-dir", type=Path,
                     help=f"服务器密钥目录（读取 {PUBLIC_KEY_NAME}） / server keys dir")
    parser.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    return parser


def _trusted_key(args: argparse.Namespace) -> Ed25519PublicKey | None:
    path: Path | None = args.key or (args.keys_dir / PUBLIC_KEY_NAME if args.keys_dir else None)
    return None if path is None else load_public_key(path.read_bytes())


def _print_human(report: VerifyReport) -> None:
    print(f"文件夹 / folder: {report.folder}")
    print(f"案件 / case: {report.case}    会话 / session: {report.session}")
    if report.interrupted:
        print("注意：录制曾中断 / note: the recording was interrupted")
    print(f"已核对文件 / files checked: {report.files_checked}; "
          f"事件日志条目 / event-log entries: {report.event_log_entries}")
    if report.signer_fingerprint:
        trust = "可信 / trusted" if report.signer_trusted else "未比对 / not compared"
        print(f"签名公钥指纹 / signer fingerprint: {report.signer_fingerprint} ({trust})")
    for p in report.problems:
        tag = "错误 / error" if p.severity == "error" else "警告 / warning"
        print(f"[{tag}] {p.message}")
    if report.ok:
        print("校验通过 / verification passed")
    else:
        errors = sum(1 for p in report.problems if p.severity == "error")
        print(f"校验失败 / verification failed: {errors} 个问题 / problem(s)")


def verify_main(argv: list[str]) -> int:
    """Entry point: exit 0 when everything verifies, 1 when something fails, 2 on bad usage."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    try:
        trusted = _trusted_key(args)
    except (OSError, ValueError) as exc:
        print(f"无法读取公钥 / cannot read public key: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.folder.is_dir():
        print(f"校验失败 / verification failed: 不是文件夹 / not a folder: {args.folder}")
        return EXIT_FAILED
    report = verify_folder(args.folder, trusted)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_human(report)
    return EXIT_OK if report.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(verify_main(sys.argv[1:]))
