"""Command-palette provider: the same actions as the key bindings, by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (palette text, action, help)
ACTIONS = (
    ("Start or stop collecting", "toggle_collect", "connect to the stream and write minutes"),
    ("Train on the current CSV", "train", "fit the LSTM in the background"),
    ("Cancel training", "cancel_training", "stop training and keep the previous model"),
    ("Load the saved model", "load_model", "load the model in --models for live prediction"),
    ("Show help", "help", "list every key"),
    ("Quit", "quit", "write the open minute and exit"),
)


class ActionsProvider(Provider):
    def _available(self) -> list[tuple[str, str, str]]:
        # Hide what cannot run now (e.g. "Cancel training" while idle), as the footer does.
        return [a for a in ACTIONS if self.app.check_action(a[1], ())]

    async def discover(self) -> Hits:
        for text, action, help_text in self._available():
            yield DiscoveryHit(text, self._runner(action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, action, help_text in self._available():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), self._runner(action), help=help_text)

    def _runner(self, action: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await self.app.run_action(action)

        return run
