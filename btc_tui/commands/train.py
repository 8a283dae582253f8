"""`btc-tui train`: train, evaluate and save the LSTM headless, with progress in the terminal.

With --json the last line of stdout is one JSON object (progress goes to stderr), for scripts.
With --predictions FILE the test windows' predictions are written as a CSV, so anyone can check
the figures (see `forecast.export`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from btc_tui.commands import Command, Context
from btc_tui.config import Settings
from btc_tui.config.settings import APP, TRAINING

if TYPE_CHECKING:
    from btc_tui.forecast.training import BatchProgress, EpochEnd, TrainResult


def run(settings: Settings, json_output: bool, predictions: Path | None = None) -> int:
    # the real work is imported only now: building the parser must stay light
    from btc_tui.forecast.export import check_predictions_path, write_predictions
    from btc_tui.forecast.report import batch_line, epoch_line
    from btc_tui.forecast.training import TrainingCancelled, train
    from btc_tui.market.store import load_minutes

    if predictions is not None:
        # Before minutes of training: a file that can't be written is known now.
        check_predictions_path(predictions)
    # Progress must not mix with the JSON a script reads from stdout.
    progress: TextIO = sys.stderr if json_output else sys.stdout
    live = progress.isatty()

    def on_stage(text: str) -> None:
        print(f"{text}…", file=progress, flush=True)

    def on_epoch(event: EpochEnd) -> None:
        # "\r\033[K" clears the transient batch line on a terminal.
        print(("\r\033[K" if live else "") + epoch_line(event), file=progress, flush=True)

    def on_batch(event: BatchProgress) -> None:
        print(f"\r\033[K{batch_line(event)}", end="", file=progress, flush=True)

    print(f"training on {settings.data} -> {settings.model_path}", file=progress, flush=True)
    data = load_minutes(settings.data)
    # Corrupt lines are reported now, not after minutes of training.
    for warning in data.warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    stop = threading.Event()
    received: list[int] = []
    try:
        with _stop_on_signals(stop, received, progress):
            result = train(
                settings,
                data,
                on_epoch=on_epoch,
                on_batch=on_batch if live else None,
                on_stage=on_stage,
                stop=stop,
            )
    except TrainingCancelled:
        print(
            f"\ncancelled: nothing saved; {settings.model_path} is as it was",
            file=sys.stderr,
            flush=True,
        )
        return 128 + (received[0] if received else signal.SIGINT)
    for warning in result.warnings:
        if warning not in data.warnings:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
    if predictions is not None:
        rows = write_predictions(result, predictions)
        print(f"wrote {rows} test predictions to {predictions}", file=progress, flush=True)

    if json_output:
        print(json.dumps(summary(result)), flush=True)
        return 0
    print(_text_report(result, color=sys.stdout.isatty()), flush=True)
    return 0


@contextmanager
def _stop_on_signals(stop: threading.Event, received: list[int], out: TextIO) -> Iterator[None]:
    """Ctrl+C / SIGTERM end training after the current batch, the same way the TUI's `x` does."""

    def handle(signum: int, _frame: object) -> None:
        if not received:
            print("\nstopping after the current batch…", file=out, flush=True)
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# Each horizon's keys under "horizons" in --json.
HORIZON_KEYS = (
    "mae",
    "last_price_mae",
    "baseline_mae",
    "skill_vs_last_price",
    "dm_pvalue",
    "coverage",
    "width",
    "interval_score",
    "rolling_band_score",
    "static_band_score",
)


def summary(result: TrainResult) -> dict[str, object]:
    """The top-level keys are the first horizon's (what --json always held); "horizons" has every
    horizon's figures and verdict."""
    from btc_tui.forecast.report import horizon_verdict, verdict

    horizons = {}
    for h, r in result.horizons.items():
        figures = r.metrics.to_dict()
        horizons[str(h)] = {key: figures[key] for key in HORIZON_KEYS}
        horizons[str(h)]["verdict"] = horizon_verdict(h, r.metrics)
    return {
        **result.metrics.to_dict(),
        "verdict": verdict(result.metrics),
        "horizons": horizons,
        "bands": {name: stats.to_dict() for name, stats in result.bands.items()},
        "train_windows": result.train_windows,
        "validation_windows": result.validation_windows,
        "calibration_windows": result.calibration_windows,
        "test_windows": result.test_windows,
        "dropped_windows": result.dropped_windows,
        "epochs_run": result.epochs_run,
        "seconds": round(result.seconds, 3),
        "model_path": str(result.model_path),
        "metadata_path": str(result.metadata_path),
        "warnings": result.warnings,
    }


def _text_report(result: TrainResult, color: bool) -> str:
    from btc_tui.forecast.report import (
        bands_table,
        chart,
        horizon_verdict,
        horizons_table,
        metrics_table,
        verdict,
    )

    columns, _rows = shutil.get_terminal_size((80, 30))
    prose = max(40, min(columns, 80))  # sentences wrap to fit a standard terminal
    return "\n".join(
        [
            "",
            textwrap.fill(
                f"{result.epochs_run} epochs in {result.seconds:.1f}s; windows: "
                f"{result.train_windows} fit, {result.validation_windows} early stopping, "
                f"{result.calibration_windows} calibration, {result.test_windows} test"
                + (f", {result.dropped_windows} dropped (gaps)" if result.dropped_windows else ""),
                width=prose,
            ),
            "",
            f"{result.first.horizon} minute(s) ahead:",
            metrics_table(result.metrics),
            "",
            bands_table(result),
            "",
            textwrap.fill(verdict(result.metrics), width=prose),
            "",
            horizons_table(result),
            *(
                textwrap.fill(horizon_verdict(h, r.metrics), width=prose, subsequent_indent="  ")
                for h, r in result.horizons.items()
            ),
            "",
            chart(result, width=max(40, min(columns, 120)), height=20, color=color),
            f"saved {result.model_path} and {result.metadata_path}",
        ]
    )


@dataclass(frozen=True)
class TrainArgs:
    json_output: bool  # --json: the last line of stdout is one JSON object
    predictions: Path | None  # --predictions FILE: one CSV row per test window


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the results as one JSON object (last line)"
    )
    parser.add_argument(
        "--predictions",
        metavar="FILE",
        type=Path,
        help="write one CSV row per test window (actual, predicted, interval, baselines)",
    )


def _arguments(namespace: argparse.Namespace, context: Context) -> TrainArgs:
    return TrainArgs(bool(namespace.json), namespace.predictions)


def _run(settings: Settings, args: TrainArgs) -> int:
    return run(settings, json_output=args.json_output, predictions=args.predictions)


COMMAND = Command(
    name="train",
    help="train the LSTM on the minute CSV, headless",
    run=_run,
    groups=(APP, TRAINING),
    add_arguments=_add_arguments,
    arguments=_arguments,
)
