"""`python -m functions.docs`: write docs/ from the code; `--check`: only say what is stale."""

from __future__ import annotations

import argparse
import sys

from functions.docs.build import DOCS, stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m functions.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    if args.check:
        found = stale()
        for name in found:
            print(f"docs/{name} is stale: run python -m functions.docs", file=sys.stderr)
        return 1 if found else 0
    changed = write()
    print(f"wrote {', '.join(changed)} in {DOCS}" if changed else "docs/ is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
