"""The two plotext charts. The only module that touches textual-plotext.

Update pattern (textual-plotext#11): plt.clear_data(), plot again, then refresh() the widget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

# Two series per chart told apart by marker as well as colour, so they read under NO_COLOR and
# in 256 colours; the legend inside the plot only when there is room for it.
LINE, DOTS = "braille", "•"
LEGEND_MIN_HEIGHT = 14


def downsample(values: Sequence[float], points: int) -> tuple[list[int], list[float]]:
    """Every k-th value (and always the last) so about `points` remain; x is the original index."""
    n = len(values)
    if n == 0:
        return [], []
    step = max(1, -(-n // max(1, points)))  # ceil(n / points)
    xs = list(range(0, n, step))
    if xs[-1] != n - 1:
        xs.append(n - 1)
    return xs, [float(values[i]) for i in xs]


class SafePlot(PlotextPlot):
    """Plots data for the size it is rendered at, and says why if plotext cannot draw it.

    Drawing happens in render(), once per change of data or size, so what is shown depends only
    on those two (drawing at update time used whatever size the widget had then). plotext raises
    on some inputs; the chart then shows the reason instead of ending the app.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._version = 0
        self._drawn: tuple[int, object] | None = None
        self.error: str | None = None

    def render(self) -> RenderResult:
        key = (self._version, self.size)
        if self._drawn != key:
            self._drawn = key
            self.error = None
            try:
                self.plt.clear_data()
                self.draw(self.plt)
            except Exception as exc:  # plotext internals: shown in the chart, not raised
                self.failed(exc)
        if self.error is None:
            try:
                return super().render()
            except Exception as exc:  # as above
                self.failed(exc)
        return Text(f"chart cannot draw: {self.error}")

    def failed(self, exc: Exception) -> None:
        self.error = f"{type(exc).__name__}: {exc}"
        self.log.error("chart failed", self.error)

    def _draw(self) -> None:
        """The data changed: draw again at the next render (then refresh, textual-plotext#11)."""
        self._version += 1
        self.refresh()

    def draw(self, plt: Plot) -> None:
        raise NotImplementedError


def whole_ticks(first: int, last: int, most: int = 6) -> list[int]:
    """Whole-number ticks from first to last inclusive, at most about `most` of them."""
    step = max(1, -(-(last - first) // (most - 1)))
    ticks = list(range(first, last + 1, step))
    if ticks[-1] != last:
        if len(ticks) > 1 and last - ticks[-1] < step / 2:
            ticks[-1] = last  # keep labels apart
        else:
            ticks.append(last)
    return ticks


def tick_room(width: int, label: int) -> int:
    """How many x labels fit side by side with a gap. plotext drops colliding labels in an order
    that depends on set iteration (so on the hash seed): never give it a collision to resolve."""
    plot_width = max(0, width - 10)  # minus the y-axis labels
    return max(2, plot_width // (label + 3))


def nice_step(span: float, most: int) -> float:
    """A round price step (1, 2 or 5 times a power of ten) giving at most `most` ticks."""
    raw = max(span, 1e-9) / max(1, most)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def price_ticks(lo: float, hi: float, most: int) -> list[float]:
    step = nice_step(hi - lo, most)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def price_label(value: float, step: float) -> str:
    """With thousands separators, and decimals only where the step needs them."""
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:,.{decimals}f}"


def price_axis(plt: Plot, lo: float, hi: float, height: int) -> None:
    """Price labels on the y axis with thousands separators (plotext's own have none), a label
    every other row at most."""
    rows = max(2, height - 4)
    most = max(2, rows // 2)
    step = nice_step(hi - lo, most)
    ys = [y for y in price_ticks(lo, hi, most) if lo <= y <= hi]
    plt.yticks(ys, [price_label(y, step) for y in ys])


def epoch_ticks(epochs: int, most: int = 6) -> list[int]:
    return whole_ticks(1, epochs, most)


class LossChart(SafePlot):
    """loss and val_loss per epoch, growing as epochs end."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.loss: list[float] = []
        self.val_loss: list[float | None] = []

    def on_mount(self) -> None:
        self.border_subtitle = "⠤ loss · • val_loss"

    def show_losses(self, losses: Sequence[tuple[float, float | None]]) -> None:
        """(loss, val_loss) per epoch, as the training pane holds them."""
        self.loss = [loss for loss, _ in losses]
        self.val_loss = [val for _, val in losses]
        self._draw()

    def draw(self, plt: Plot) -> None:
        plt.xlabel("epoch")
        if self.loss:
            epochs = list(range(1, len(self.loss) + 1))
            legend = self.size.height >= LEGEND_MIN_HEIGHT
            # Dots first so the line stays visible where they overlap.
            val = [(e, v) for e, v in zip(epochs, self.val_loss, strict=True) if v is not None]
            if val:
                xs, ys = [e for e, _ in val], [v for _, v in val]
                plt.plot(xs, ys, label="val_loss" if legend else None, marker=DOTS)
            plt.plot(epochs, self.loss, label="loss" if legend else None, marker=LINE)
            plt.xticks(epoch_ticks(len(epochs), most=tick_room(self.size.width, label=3)))
        else:
            plt.xticks([])  # clear_data() keeps the ticks of the previous run


BAND = "·"  # the interval's edges: a third marker, lighter than the two series


class ForecastChart(SafePlot):
    """Predicted vs actual prices on the test set with the model's interval around the predicted
    line, downsampled to about the widget's width."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.actual: Sequence[float] = []
        self.predicted: Sequence[float] = []
        self.lo: Sequence[float] = []
        self.hi: Sequence[float] = []

    def show(
        self,
        actual: Sequence[float],
        predicted: Sequence[float],
        lo: Sequence[float] | None = None,
        hi: Sequence[float] | None = None,
    ) -> None:
        self.actual, self.predicted = actual, predicted
        self.lo = [] if lo is None else lo
        self.hi = [] if hi is None else hi
        self._draw()

    def draw(self, plt: Plot) -> None:
        plt.xlabel("test minute")
        if not len(self.actual):
            plt.xticks([])
            return
        points = max(10, self.size.width - 10)
        xs, actual = downsample(self.actual, points)
        _, predicted = downsample(self.predicted, points)
        legend = self.size.height >= LEGEND_MIN_HEIGHT
        plotted = [actual, predicted]
        if len(self.lo) == len(self.actual) and len(self.hi) == len(self.actual):
            _, lo = downsample(self.lo, points)
            _, hi = downsample(self.hi, points)
            plt.plot(xs, lo, label="interval" if legend else None, marker=BAND)
            plt.plot(xs, hi, marker=BAND)
            plotted += [lo, hi]
        plt.plot(xs, predicted, label="predicted" if legend else None, marker=DOTS)
        plt.plot(xs, actual, label="actual" if legend else None, marker=LINE)
        shown = [v for values in plotted for v in values if math.isfinite(v)]
        if shown:
            price_axis(plt, min(shown), max(shown), self.size.height)
        last = len(self.actual) - 1
        plt.xticks(whole_ticks(0, last, most=tick_room(self.size.width, len(str(last)))))
