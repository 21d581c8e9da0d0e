"""The command line: ``relunet COMMAND [options]``. The only part of relunet that prints.

Each command lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``.
Errors in user input become one line on stderr and exit code 2, with no traceback. A bare
``relunet`` prints the full help on stderr and exits 2, as argparse does for any other missing
required argument.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

__all__ = ["main", "CLIError"]

#: command name -> module under relunet.cli (imported only when used)
COMMANDS = {
    "gradcheck": "gradcheck",
    "train": "train",
    "evaluate": "evaluate",
    "predict": "predict",
    "export": "export",
    "demo": "demo",
    "gradflow": "gradflow",
    "deep": "deep",
}


class CLIError(Exception):
    """A user error the CLI reports as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="relunet",
        description="Backprop through ReLU networks, proven correct, and the gradient-flow lab.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"relunet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module in COMMANDS.items():
        importlib.import_module(f"{__name__}.{module}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 success, 1 a check failed, 2 bad input)."""
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else list(argv)):
        parser.print_help(sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return int(args.run(args))
    except BrokenPipeError:
        # The reader went away (``relunet … | head``): silence the interpreter's final flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (CLIError, ValueError, TypeError, OSError) as exc:  # OSError: missing, unreadable, full, …
        print(f"relunet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"relunet {args.command}: interrupted", file=sys.stderr)
        return 130
