"""`btc-tui import FILE...`: Binance's daily/monthly dump files (aggTrades or trades; zip or csv) into
the minute CSV, with the same merge rules as backfill. Every file is checked before the CSV is
touched; a corrupt row is named (file and line) and skipped, and the minutes around it left out.
"""

from __future__ import annotations

import sys
from pathlib import Path

from btc_tui.config import Settings
from btc_tui.errors import UsageError
from btc_tui.market.history import import_dumps


def run(settings: Settings, files: list[Path]) -> int:
    if settings.demo:
        raise UsageError(
            f"import merges real Binance dumps, never into the demo's {settings.data}; drop --demo"
        )
    result = import_dumps(settings, files)
    for warning in result.warnings:
        print(f"btc-tui: warning: {warning}", file=sys.stderr)
    print(result.summary(settings.data), flush=True)
    return 0
