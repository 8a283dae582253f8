"""The collector's events as one line of plain text: what `btc-tui collect` prints per written
minute and `btc-tui serve` logs (no colour, one event per line: journald-friendly)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from btc_tui.market.collector import BarWritten


def format_bar_line(event: BarWritten) -> str:
    """`2024-01-01 00:00 UTC  avg 42283.51  O 42280.00 H 42290.10 L 42279.95 C 42285.00  ...`"""
    bar = event.bar
    return (
        f"{bar.start:%Y-%m-%d %H:%M} UTC  avg {bar.avg_price:.2f}  "
        f"O {bar.open:.2f} H {bar.high:.2f} L {bar.low:.2f} C {bar.close:.2f}  "
        f"trades {bar.trades}  reconnects {event.reconnects}"
    )
