"""btc-tui: live BTCUSDT minute bars, an LSTM forecaster, and a terminal UI joining them."""

__version__ = "0.1.0"
