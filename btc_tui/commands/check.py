"""`btc-tui check [--repair]`: holes in the trade ids, minutes out of order or repeated, corrupt lines.

Exit 0 when the CSV is consistent, 1 when it is not (each problem on its own line). `--repair`
takes corrupt, duplicate and blank lines out (kept in `<csv>.rejected`) and sorts the rows in one
atomic rewrite, then rebuilds the affected minutes wholly from REST chunk by chunk, each chunk
written as it completes (a progress bar on a terminal; a stop or an error keeps what is done);
exit 0 once a re-check finds nothing, else 1. When a collector is writing the CSV, the repair is
handed to it (market/handoff.py) and the progress bar follows its work.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from btc_tui.commands import Command, Context
from btc_tui.config import Settings
from btc_tui.errors import EXIT_INTERRUPTED, EXIT_USAGE

EXIT_PROBLEMS = 1


def run(settings: Settings, repair: bool = False) -> int:
    from btc_tui.market import handoff
    from btc_tui.market.history import check

    report = check(settings.data)
    for line in report.lines():
        print(line, flush=True)
    note = (
        f" ({report.without_ids:,} rows from before trade ids were recorded)"
        if report.without_ids
        else ""
    )
    print(f"{settings.data}: {report.rows:,} rows, {report.problems} problem(s){note}", flush=True)
    left = handoff.minutes_left(settings.data)
    if left:
        print(
            f"{settings.data}: {left:,} minute(s) an earlier check --repair asked for are not "
            "rebuilt yet: the collector writing it does them (or its next start, or check --repair)",
            flush=True,
        )
    if not repair or report.problems == 0:
        return EXIT_PROBLEMS if report.problems else 0
    return _repair(settings, report)


def _repair(settings: Settings, report) -> int:
    from btc_tui.market.history import RepairFailed, check, minute_text, repair
    from btc_tui.market.rest import RestError

    if settings.demo:
        print(
            f"btc-tui: error: --repair fetches real trades from Binance, never into the demo's "
            f"{settings.data}; the CSV is unchanged",
            file=sys.stderr,
        )
        return EXIT_USAGE

    from btc_tui.commands.backfill import _Progress
    from btc_tui.market.history import BackfillProgress, RebuildProgress

    bar = _Progress("repair")
    rebuilt = [0]
    handed = []  # the collector doing it for us, once it holds the CSV

    def on_progress(progress: RebuildProgress) -> None:
        rebuilt[0] = progress.rebuilt
        bar(BackfillProgress(progress.done, progress.total, progress.rebuilt, 0))

    def on_handoff(owner) -> None:
        if not handed or handed[-1].pid != owner.pid:
            print(
                f"repair: {settings.data} is being written by {owner.describe()}; it does the "
                "repair (it fetches over REST and writes each chunk as it completes); waiting "
                "for it (Ctrl+C stops the waiting, not the repair)",
                file=sys.stderr,
                flush=True,
            )
        handed.append(owner)

    try:
        result = asyncio.run(
            repair(settings, report, on_progress=on_progress, on_handoff=on_handoff)
        )
    except (RestError, RepairFailed) as exc:
        bar.close()
        # chunks merged before the error stay: each minute in them is exact and complete
        done = getattr(exc, "rebuilt", rebuilt[0])
        kept = f"{done:,} minute(s) rebuilt before it are kept" if done else ""
        print(f"btc-tui: error: {exc}; {kept or 'no minute was rebuilt'}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        bar.close()
        if handed:
            print(
                f"repair: stopped waiting; {handed[-1].describe()} goes on with the repair "
                f"({rebuilt[0]:,} minute(s) rebuilt so far); btc-tui check shows what is left",
                file=sys.stderr,
            )
        else:
            print(
                f"repair: stopped; {rebuilt[0]:,} minute(s) rebuilt so far are kept",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED  # said what was kept: not the CLI's "nothing was saved"
    bar.close()
    by = f" by {result.by.describe()}" if result.by is not None else ""
    print(f"repair: {result.rebuilt:,} minute(s) rebuilt from REST{by}", flush=True)
    if result.saved_to is not None:
        print(f"repair: {result.removed_lines} line(s) taken out, kept in {result.saved_to}")
    if result.unrepaired:
        shown = ", ".join(minute_text(m) for m in result.unrepaired[:5])
        print(f"repair: REST had no trades for {len(result.unrepaired)} minute(s): {shown}")
    again = check(settings.data)
    for line in again.lines():
        print(f"still: {line}", flush=True)
    return EXIT_PROBLEMS if again.problems else 0


@dataclass(frozen=True)
class CheckArgs:
    repair: bool  # --repair: rebuild the affected minutes over REST


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repair",
        dest="check_repair",  # not the `repair` setting (--no-repair)
        action="store_true",
        help="rebuild every affected minute over REST and rewrite the CSV in time order "
        "(lines taken out are kept in <csv>.rejected)",
    )


def _arguments(namespace: argparse.Namespace, context: Context) -> CheckArgs:
    return CheckArgs(bool(namespace.check_repair))


def _run(settings: Settings, args: CheckArgs) -> int:
    return run(settings, repair=args.repair)


COMMAND = Command(
    name="check",
    help="report holes, disorder and corrupt lines in the CSV",
    run=_run,
    add_arguments=_add_arguments,
    arguments=_arguments,
)
