"""Write docs/openapi.json from the route declarations (server.app.openapi_spec).

Run after changing an endpoint:  .venv/bin/python scripts/gen_openapi.py
tests/api/test_ops.py fails while the committed file is out of date. `--check` only compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from server.app import openapi_spec

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def render() -> str:
    return json.dumps(openapi_spec(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date; run: python scripts/gen_openapi.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
