"""`shared-court` command line. Options and JSON outputs here are a stable interface."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server import allocator
from server.config import ConfigError, Settings, load_settings

DESCRIPTION = """共享法庭 — 视频调解服务器 / Shared Court video mediation server.

Commands:
  serve     start the server (default when no command is given)
  demo      seed demo data, schedule a session now, print ready-to-open links
  config    show the effective configuration (secrets masked)
  user      create a staff account (e.g. the first admin of a court)
  probe     join a session like a browser (test pattern + tone) and report what arrives
  verify    check a sealed recording folder: every hash, the event-log chain, the signature
  retention delete recordings past the retention period (--dry-run lists them)

Configuration: a TOML file (--config or SHARED_COURT_CONFIG) and SHARED_COURT_<SETTING>
environment variables; flags override both. Exit codes: 0 success, non-zero with a one-line
reason on stderr."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument("--data-dir", type=Path, help="database, keys and recordings (default ./data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shared-court",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="start the server")
    _common(serve)
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8080)")

    demo = sub.add_parser("demo", help="seed demo data and print links")
    _common(demo)
    demo.add_argument("--base-url", help="public URL used in the links (default: public_url)")
    demo.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: session_id, mediator_link, party_links, "
        "terminal_link, clerk {url, username, password}",
    )

    config = sub.add_parser("config", help="configuration")
    _common(config)
    config.add_argument(
        "--show",
        action="store_true",
        required=True,
        help="print the effective settings as JSON (secrets masked)",
    )

    user = sub.add_parser("user", help="create a staff account")
    _common(user)
    user.add_argument("--court", required=True, help="court name (created if missing)")
    user.add_argument("--username", required=True)
    user.add_argument("--display-name", required=True)
    user.add_argument("--role", required=True, choices=["admin", "judge", "mediator", "clerk"])
    user.add_argument(
        "--password-env",
        metavar="VAR",
        help="read the password from this environment variable (else prompt)",
    )
    probe = sub.add_parser("probe", help="headless participant for line checks and tests")
    from signaling.probe import add_arguments

    add_arguments(probe)

    verify = sub.add_parser(
        "verify", help="verify a sealed session folder (exit 0 when everything holds)"
    )
    verify.add_argument("folder", type=Path, help="a session folder under <data-dir>/recordings")
    verify.add_argument(
        "--data-dir", type=Path, help="trust the signing key in <data-dir>/keys (default ./data)"
    )
    verify.add_argument("--key", type=Path, help="trust this public key (PEM) instead")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")

    retention = sub.add_parser(
        "retention", help="delete recordings older than recording_retention_days (audited)"
    )
    _common(retention)
    mode = retention.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    mode.add_argument("--apply", action="store_true", help="delete expired recordings now")
    return parser


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    return load_settings(args.config, data_dir=args.data_dir, **extra)


def cmd_serve(args: argparse.Namespace) -> int:
    from server.app import create_app
    from server.http.limits import serve

    settings = _settings(args, host=args.host, port=args.port)
    try:
        # Before anything starts a thread or opens a socket: this may re-execute the process.
        allocator.ensure(settings.allocator)
    except allocator.AllocatorError as exc:
        raise ConfigError(f"配置无效 / invalid configuration: {exc}") from exc
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(settings)
    logging.getLogger(__name__).info("C allocator: %s", allocator.running())
    message = (
        f"共享法庭服务已启动 / Shared Court listening on http://{settings.host}:{settings.port}"
    )
    # `ready` runs once the listening socket is bound, so scripts can wait for the message.
    # The serving code enforces the slow-client limits (server/http/limits.py).
    serve(
        app,
        settings,
        ready=lambda: print(message, flush=True),
        # On SIGTERM, requests still open after 3 s are closed: browsers' websockets otherwise
        # held a restart for 10–20 s while every room froze (rooms are saved and resume).
        shutdown_timeout=3.0,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from server.demo import format_demo, seed_demo

    result = asyncio.run(seed_demo(_settings(args), args.base_url))
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        print(format_demo(result))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(json.dumps(_settings(args).public_view(), ensure_ascii=False, indent=2))
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    from server.accounts import create_staff_user

    if args.password_env:
        password = os.environ.get(args.password_env, "")
    else:
        password = getpass.getpass("密码 / password: ")
    if len(password) < 8:
        raise ConfigError("密码至少 8 位 / password must have at least 8 characters")
    asyncio.run(
        create_staff_user(
            _settings(args), args.court, args.username, args.display_name, args.role, password
        )
    )
    print(f"已创建 / created {args.role} {args.username}")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from signaling.probe import probe_main

    return probe_main(args)


def cmd_verify(args: argparse.Namespace) -> int:
    from recording import verify_main

    argv = [str(args.folder)]
    if args.key:
        argv += ["--key", str(args.key)]
    else:
        keys = (args.data_dir or Path("data")) / "keys"
        if keys.is_dir():
            argv += ["--keys-dir", str(keys)]
    if args.json:
        argv.append("--json")
    return verify_main(argv)


def cmd_retention(args: argparse.Namespace) -> int:
    from server.archive.retention import run_cli

    items = asyncio.run(run_cli(_settings(args), apply=args.apply))
    print(json.dumps([i.model_dump(mode="json") for i in items], ensure_ascii=False, indent=2))
    return 1 if any(i.error for i in items) else 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": cmd_serve,
    "demo": cmd_demo,
    "config": cmd_config,
    "user": cmd_user,
    "probe": cmd_probe,
    "verify": cmd_verify,
    "retention": cmd_retention,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"shared-court: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, never a traceback, for scripts
        # Some messages (SQLAlchemy's) span several lines; the first one is the reason.
        reason = (str(exc).strip().splitlines() or [""])[0]
        print(f"shared-court: {type(exc).__name__}: {reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
