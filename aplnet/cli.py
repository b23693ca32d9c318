"""The command line: ``aplnet <command>`` and ``python -m aplnet``."""

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="aplnet",
        description="The U-Net as APL-style array expressions in numpy.")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.add_parser("repl", help="an interactive console with aplnet loaded")
    notes = sub.add_parser("notes", help="list the notes' chapters, or print chapter N")
    notes.add_argument("chapter", nargs="?", help="chapter number (e.g. 2) or name")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "repl"):
        from .repl import main as repl_main
        return repl_main()
    if args.command == "notes":
        from .chapters import main as notes_main
        return notes_main(args.chapter)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
