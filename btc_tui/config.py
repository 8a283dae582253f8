"""Settings shared by the CLI, the collector, training and the UI.

Every field can come from a flag or from a `BTC_TUI_<FIELD>` environment variable (flags win).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

DEFAULT_DATA = Path("data/bitcoin_price_stream.csv")
DEMO_DATA = Path("data/demo.csv")
DEMO_MODELS = Path("models/demo")
DEFAULT_URL = "wss://stream.binance.com:9443"
MODEL_NAME = "btc_lstm"


@dataclass(frozen=True)
class Settings:
    data: Path = DEFAULT_DATA
    models: Path = Path("models")
    symbol: str = "btcusdt"
    url: str = DEFAULT_URL
    demo: bool = False
    # collector
    stale_after: float = 30.0
    minutes: int | None = None
    # forecasting
    window: int = 60
    horizon: int = 1
    epochs: int = 50
    batch_size: int = 256  # ~2.7x the seed's 32 in windows/s (benchmarks/train_speed.py)
    test_fraction: float = 0.2
    seed: int | None = None

    @property
    def model_path(self) -> Path:
        return self.models / f"{MODEL_NAME}.keras"

    @property
    def metadata_path(self) -> Path:
        return self.models / f"{MODEL_NAME}.json"

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)


def _coerce(kind: str, raw: str) -> object:
    if "Path" in kind:
        return Path(raw)
    if "bool" in kind:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if "int" in kind and "None" in kind:
        return int(raw) if raw.strip() else None
    if "int" in kind:
        return int(raw)
    if "float" in kind:
        return float(raw)
    return raw


def settings_from(overrides: dict[str, object], environ: dict[str, str] | None = None) -> Settings:
    """Defaults, then `BTC_TUI_*` environment variables, then explicit (non-None) overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(f"BTC_TUI_{f.name.upper()}")
        if raw is not None:
            try:
                values[f.name] = _coerce(str(f.type), raw)
            except ValueError as exc:
                from btc_tui.errors import UsageError

                raise UsageError(f"BTC_TUI_{f.name.upper()}={raw!r} is not valid: {exc}") from None
    for name, value in overrides.items():
        if value is not None:
            values[name] = Path(value) if name in ("data", "models") else value
    # Simulated minutes never mix with real ones: --demo gets its own default file, and its own
    # model folder, so a model fitted to the simulator's random walk never predicts real prices.
    if values.get("demo"):
        values.setdefault("data", DEMO_DATA)
        values.setdefault("models", DEMO_MODELS)
    return Settings(**values)  # type: ignore[arg-type]
