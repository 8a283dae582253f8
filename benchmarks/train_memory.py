"""Peak memory and speed of `train()` as the data grows: 10,000 vs 130,000 minutes.

Windows are encoded batch by batch from the minute arrays (a keras.utils.PyDataset), so the peak
RSS should stay flat as the file grows (issue 16: within 10%). Each size trains in a fresh process
(its own peak), on the kline fixture's minutes repeated end to end to reach the size (times moved
on so the minutes stay consecutive; the prices repeat, which changes nothing for memory or speed),
for a fixed number of epochs (early stopping off), and prints peak RSS, seconds and fit windows per
second.

    .venv/bin/python benchmarks/train_memory.py                  # 10,000 and 130,000 minutes
    .venv/bin/python benchmarks/train_memory.py --sizes 10000 43000 130000 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._fixtures import fixture_csv  # noqa: E402 (after the path line)

CHILD = r"""
import json, resource, time
from pathlib import Path
from btc_tui.config import Settings
from btc_tui.forecast.model import ModelSpec
from btc_tui.forecast.training import train

started = time.monotonic()
fit = []
result = train(
    Settings(data=Path({data!r}), models=Path({models!r}), epochs={epochs}, seed=1),
    on_epoch=lambda e: fit.append(e.elapsed),
    spec=ModelSpec(patience=10_000),
)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"peak_mb": peak, "seconds": time.monotonic() - started,
                  "fit_seconds": fit[-1], "fit_windows": result.windows["fit"],
                  "epochs": result.epochs_run}}))
"""


def repeated(source: Path, out: Path, minutes: int) -> Path:
    """`minutes` rows: the fixture's rows again and again, each pass moved on in time."""
    from datetime import UTC, datetime, timedelta

    lines = source.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    first = datetime(*(int(v) for v in rows[0].split(",")[:5]), tzinfo=UTC)
    written = [header]
    for i in range(minutes):
        fields = rows[i % len(rows)].split(",")
        t = first + timedelta(minutes=i)
        written.append(",".join([str(v) for v in (t.year, t.month, t.day, t.hour, t.minute)]
                                + fields[5:]))  # fmt: skip
    out.write_text("\n".join(written) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 130_000])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="btc-tui-train-memory-"))
    source = fixture_csv(tmp / "fixture.csv")
    peaks = []
    for size in args.sizes:
        data = repeated(source, tmp / f"m{size}.csv", size)
        code = CHILD.format(data=str(data), models=str(tmp / f"models{size}"), epochs=args.epochs)
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr.strip().splitlines()[-1])
        r = json.loads(out.stdout.strip().splitlines()[-1])
        peaks.append(r["peak_mb"])
        speed = r["fit_windows"] * r["epochs"] / r["fit_seconds"]
        print(
            f"{size:>9,} minutes: peak RSS {r['peak_mb']:,.0f} MB; {r['epochs']} epochs, "
            f"{r['seconds']:.0f} s in all, fitting {speed:,.0f} windows/s "
            f"({r['fit_windows']:,} fit windows)",
            flush=True,
        )
    if len(peaks) > 1:
        print(f"largest vs smallest peak: {peaks[-1] / peaks[0] - 1:+.1%} (target within 10%)")


if __name__ == "__main__":
    main()
