"""`btc-tui import FILE...`: Binance's daily/monthly dump files (aggTrades or trades; zip or csv) into
the minute CSV, with the same merge rules as backfill. Every file is checked before the CSV is
touched; a corrupt row is named (file and line) and skipped, and the minutes around it left out.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from btc_tui.commands import Command, Context
from btc_tui.config import Settings
from btc_tui.errors import UsageError


def run(settings: Settings, files: list[Path]) -> int:
    from btc_tui.market.history import import_dumps

    if settings.demo:
        raise UsageError(
            f"import merges real Binance dumps, never into the demo's {settings.data}; drop --demo"
        )
    result = import_dumps(settings, files)
    for warning in result.warnings:
        print(f"btc-tui: warning: {warning}", file=sys.stderr)
    print(result.summary(settings.data), flush=True)
    return 0


@dataclass(frozen=True)
class ImportArgs:
    files: list[Path]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="zip or csv dump")


def _arguments(namespace: argparse.Namespace, context: Context) -> ImportArgs:
    return ImportArgs(list(namespace.files))


def _run(settings: Settings, args: ImportArgs) -> int:
    return run(settings, files=args.files)


COMMAND = Command(
    name="import",
    help="merge data.binance.vision aggTrades/trades dumps into the CSV",
    run=_run,
    add_arguments=_add_arguments,
    arguments=_arguments,
)
