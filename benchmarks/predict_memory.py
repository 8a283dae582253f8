"""Memory and speed of live prediction with a saved model, in a process that never trains.

Trains a small model first (in its own process, on the last minutes of the kline fixture or
`--data FILE`) unless `--models DIR` names a saved one, then starts a fresh process that loads it
the way the app does (`Predictor.load`) and predicts, and prints: peak RSS (VmHWM) and current
RSS, whether TensorFlow or Keras got imported, and the time of one prediction from the latest
minutes (the 1,500 the app keeps; median of many, and the mean CPU time, which a machine busy
with other work inflates less), every horizon's median and band at once. With `--with-ui` the fresh process imports the Textual app as well, as
`btc-tui` does. With `--app` it then also launches the real `btc-tui` in a pseudo-terminal (120x40)
on a copy of the CSV with that model (stream and REST on a closed loopback port, no history fill),
waits until its Live pane shows the prediction line ("→ … (80%: …)"), and prints that process's
peak and current RSS and whether a TensorFlow library is mapped in it (/proc/PID/maps).

    .venv/bin/python benchmarks/predict_memory.py
    .venv/bin/python benchmarks/predict_memory.py --with-ui
    .venv/bin/python benchmarks/predict_memory.py --app
    .venv/bin/python benchmarks/predict_memory.py --models models/ --data data/bitcoin_price_stream.csv
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
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

shape = dict({shape!r}, horizons=tuple({shape!r}["horizons"]))
settings = Settings(data=Path({data!r}), models=Path({models!r}), **shape)
started = time.perf_counter()
predictor = Predictor.load(settings)
loaded = time.perf_counter() - started
frame = load_minutes(settings.data).frame.iloc[-1500:]
times = []
cpu = time.process_time()
for _ in range(500):
    t = time.perf_counter()
    prediction = predictor.predict(frame)
    times.append(time.perf_counter() - t)
cpu = (time.process_time() - cpu) / 500
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"tensorflow", "keras"}})
print(json.dumps({{**rss(), "load_s": loaded, "predict_ms": 1000 * statistics.median(times),
                  "cpu_ms": 1000 * cpu,
                  "predict_ms_p95": 1000 * sorted(times)[int(0.95 * len(times))],
                  "heavy": heavy, "price": prediction.price, "lo": prediction.lo,
                  "hi": prediction.hi, "horizons": list(prediction.horizons),
                  "far": [prediction.forecasts[-1].lo, prediction.forecasts[-1].hi]}}))
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


def model_shape(models: Path) -> dict[str, object]:
    """The saved model's window, horizons and interval, so it is loaded with its own settings."""
    meta = json.loads((models / "btc_lstm.json").read_text())
    return {name: meta[name] for name in ("window", "horizons", "interval")}


def app_rss(data: Path, models: Path) -> None:
    """The real app, started with the saved model, once it shows a live prediction."""
    import re
    import shutil

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _terminal import Pty

    with tempfile.TemporaryDirectory(prefix="btc-tui-app-") as tmp:
        copy = Path(tmp) / "minutes.csv"  # the app locks and may repair its CSV: not the user's
        shutil.copyfile(data, copy)
        args = ["--data", str(copy), "--models", str(models), "--history", "0"]
        args += ["--url", "ws://127.0.0.1:9", "--rest-url", "http://127.0.0.1:9"]
        shape = model_shape(models)
        shape["horizons"] = ",".join(str(h) for h in shape["horizons"])  # type: ignore[union-attr]
        args += [f"--{name}={value}" for name, value in shape.items()]
        term = Pty(args, Path(tmp), size=(120, 40))
        try:
            # The prediction line: "HH:MM → price (80%: lo–hi)", drawn once the model is in.
            deadline = 120.0
            while not re.search(rb"\(\d+%: ", bytes(term.seen)):
                term.read(0.1)
                deadline -= 0.1
                if deadline < 0:
                    raise SystemExit("no prediction line on screen within 120 s")
            seen = time.perf_counter() - term.started
            term.read(3.0)  # a few refreshes while it predicts
            status = Path(f"/proc/{term.proc.pid}/status").read_text()
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            peak, now = (int(fields[k].split()[0]) / 1024 for k in ("VmHWM", "VmRSS"))
            maps = Path(f"/proc/{term.proc.pid}/maps").read_text()
            tf = sorted({Path(line.split()[-1]).name for line in maps.splitlines()
                         if "tensorflow" in line and "/" in line})  # fmt: skip
        finally:
            term.quit()
    print(
        f"btc-tui (the app) with the saved model, prediction on screen after {seen:.1f} s: "
        f"peak RSS {peak:.0f} MB (now {now:.0f} MB); TensorFlow libraries mapped: "
        f"{', '.join(tf) or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="minute CSV (default: the kline fixture)")
    parser.add_argument("--models", type=Path, help="a folder with a saved model (else trains)")
    parser.add_argument("--minutes", type=int, default=3000, help="minutes to train on")
    parser.add_argument("--with-ui", action="store_true", help="import the Textual app too")
    parser.add_argument(
        "--app", action="store_true", help="also measure the real btc-tui predicting live"
    )
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
    shape = model_shape(models)
    probe = PROBE.format(with_ui=args.with_ui, data=str(data), models=str(models), shape=shape)
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the prediction process failed: {out.stderr.strip().splitlines()[-1]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    what = "the Textual app imported, " if args.with_ui else ""
    print(
        f"fresh process, {what}model loaded and predicting: peak RSS {r['VmHWM']:.0f} MB "
        f"(now {r['VmRSS']:.0f} MB); TensorFlow/Keras imported: {', '.join(r['heavy']) or 'no'}"
    )
    print(
        f"Predictor.load {1000 * r['load_s']:.1f} ms; one prediction from the latest minutes: "
        f"median {r['predict_ms']:.2f} ms, p95 {r['predict_ms_p95']:.2f} ms, CPU time "
        f"{r['cpu_ms']:.2f} ms (less sensitive to a busy machine) "
        f"for horizons {r['horizons']} (first: {r['price']:,.2f} in [{r['lo']:,.2f}, "
        f"{r['hi']:,.2f}]; last: [{r['far'][0]:,.2f}, {r['far'][1]:,.2f}])"
    )
    if args.app:
        app_rss(data, models)


if __name__ == "__main__":
    main()
