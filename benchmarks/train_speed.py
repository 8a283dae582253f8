"""Training throughput (windows/s per epoch) of the LSTM for several fit settings.

Uses the real 20-day fixture's training windows (the default features), fits 1 warm-up epoch on a
slice (tracing), then times full epochs. Each line says what one change buys over the seed's
batch of 32 with the seed's LSTM(64) -> LSTM(32). Timings are noisy on a shared 2-core machine.

    .venv/bin/python benchmarks/train_speed.py [--epochs 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._fixtures import fixture_csv
from btc_tui.config import Settings
from btc_tui.forecast.dataset import (
    build_windows,
    chronological_split,
    encode,
    required_columns,
    series_from_frame,
)
from btc_tui.forecast.model import (
    ModelSpec,
    build_model,
    import_keras,
    pinball_loss,
    quantile_levels,
)
from btc_tui.market.store import load_minutes

# (label, batch, units, jit_compile, steps_per_execution)
SETUPS = [
    ("seed: 64x32, batch 32", 32, (64, 32), False, 1),
    ("64x32, batch 128", 128, (64, 32), False, 1),
    ("64x32, batch 256", 256, (64, 32), False, 1),
    ("64x32, batch 512", 512, (64, 32), False, 1),
    ("64x32, batch 256 + jit_compile", 256, (64, 32), True, 1),
    ("64x32, batch 256 + steps_per_exec 8", 256, (64, 32), False, 8),
    ("32x16, batch 256", 256, (32, 16), False, 1),
    ("32x16, batch 512", 512, (32, 16), False, 1),
    ("16x8, batch 512", 512, (16, 8), False, 1),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per setup")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="btc-tui-speed-"))
    fixture_csv(tmp / "minutes.csv")
    spec = ModelSpec()
    frame = load_minutes(tmp / "minutes.csv").frame
    series = series_from_frame(frame, required_columns(spec.features))
    windows = build_windows(series, 60, 1)
    split = chronological_split(len(windows), 0.2)
    encoded = encode(windows, spec.features, spec.target_kind)
    x, y = encoded.x[split.train], encoded.y[split.train]
    keras = import_keras()
    baseline = None
    print(f"{len(x)} training windows of {x.shape[1]} minutes x {x.shape[2]} features")
    for label, batch, units, jit, steps in SETUPS:
        keras.utils.set_random_seed(1)
        model = build_model(
            ModelSpec(features=spec.features, units=units, jit_compile=jit), x.shape[1]
        )
        if steps > 1:
            model.compile(
                optimizer="adam",
                loss=pinball_loss(quantile_levels(Settings().interval)),
                steps_per_execution=steps,
            )
        model.fit(x[: batch * 4], y[: batch * 4], batch_size=batch, epochs=1, verbose=0)
        started = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=args.epochs, verbose=0, shuffle=True)
        rate = len(x) * args.epochs / (time.perf_counter() - started)
        baseline = baseline or rate
        print(f"{label:<36}{rate:8.0f} windows/s  {rate / baseline:5.2f}x the seed", flush=True)


if __name__ == "__main__":
    main()
