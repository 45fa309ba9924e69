"""The ``ccta-ai`` command line."""

from __future__ import annotations

import argparse
import sys

from ccta_ai import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccta-ai", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ccta-ai {__version__}")
    parser.add_subparsers(dest="command", required=True)
    args = parser.parse_args(argv)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
