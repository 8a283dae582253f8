"""Memory and speed of live prediction with a saved model, in a process that never trains.

Trains a small model first (in its own process, on the last minutes of the kline fixture or
`--data FILE`) unless `--models DIR` names a saved one, then starts a fresh process that loads it
the way the app does (`Predictor.load`) and predicts, and prints: peak RSS (VmHWM) and current
RSS, whether TensorFlow or Keras got imported, and the time of one prediction from the latest
minutes (median of many). With `--with-ui` the fresh process imports the Textual app as well, as
`btc-tui` does.

    .venv/bin/python benchmarks/predict_memory.py
    .venv/bin/python benchmarks/predict_memory.py --with-ui
    .venv/bin/python benchmarks/predict_memory.py --models models/ --data data/bitcoin_price_stream.csv
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

PROBE = r"""
import json, statistics, sys, time
from pathlib import Path

def rss():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {{k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}}

if {with_ui}:
    import btc_tui.ui.app  # noqa: F401  (what `btc-tui` imports to start the TUI)
from btc_tui.config import Settings
from btc_tui.forecast.predictor import Predictor
from btc_tui.market.store import load_minutes

settings = Settings(data=Path({data!r}), models=Path({models!r}))
started = time.perf_counter()
predictor = Predictor.load(settings)
loaded = time.perf_counter() - started
frame = load_minutes(settings.data).frame.iloc[-500:]
times = []
for _ in range(500):
    t = time.perf_counter()
    prediction = predictor.predict(frame)
    times.append(time.perf_counter() - t)
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"tensorflow", "keras"}})
print(json.dumps({{**rss(), "load_s": loaded, "predict_ms": 1000 * statistics.median(times),
                  "predict_ms_p95": 1000 * sorted(times)[int(0.95 * len(times))],
                  "heavy": heavy, "price": prediction.price, "lo": prediction.lo,
                  "hi": prediction.hi}}))
"""


def train_small(data: Path, models: Path, minutes: int) -> None:
    """A real saved model, trained in a child process so this one stays free of TensorFlow."""
    code = (
        "import dataclasses\n"
        "from pathlib import Path\n"
        "from btc_tui.config import Settings\n"
        "from btc_tui.forecast.training import train\n"
        "from btc_tui.market.store import load_minutes\n"
        f"data = load_minutes(Path({str(data)!r}))\n"
        f"data = dataclasses.replace(data, frame=data.frame.iloc[-{minutes}:])\n"
        f"train(Settings(data=Path({str(data)!r}), models=Path({str(models)!r}), epochs=2,"
        " seed=1), data)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="minute CSV (default: the kline fixture)")
    parser.add_argument("--models", type=Path, help="a folder with a saved model (else trains)")
    parser.add_argument("--minutes", type=int, default=3000, help="minutes to train on")
    parser.add_argument("--with-ui", action="store_true", help="import the Textual app too")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="btc-tui-predict-"))
    data = args.data
    if data is None:
        from benchmarks._fixtures import fixture_csv

        data = fixture_csv(tmp / "minutes.csv")
    models = args.models
    if models is None:
        models = tmp / "models"
        print(f"training a small model on the last {args.minutes} minutes of {data}…", flush=True)
        train_small(data, models, args.minutes)
        print(f"(saved in {models}; pass --models {models} --data {data} to reuse it)")
    probe = PROBE.format(with_ui=args.with_ui, data=str(data), models=str(models))
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    what = "the Textual app imported, " if args.with_ui else ""
    print(
        f"fresh process, {what}model loaded and predicting: peak RSS {r['VmHWM']:.0f} MB "
        f"(now {r['VmRSS']:.0f} MB); TensorFlow/Keras imported: {', '.join(r['heavy']) or 'no'}"
    )
    print(
        f"Predictor.load {1000 * r['load_s']:.1f} ms; one prediction from the latest minutes: "
        f"median {r['predict_ms']:.2f} ms, p95 {r['predict_ms_p95']:.2f} ms "
        f"(last: {r['price']:,.2f} in [{r['lo']:,.2f}, {r['hi']:,.2f}])"
    )


if __name__ == "__main__":
    main()
