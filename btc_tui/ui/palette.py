"""The command palette's provider: the same actions as the key bindings, by name (from one table)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from btc_tui.ui.actions import ACTIONS, AppAction


class ActionsProvider(Provider):
    def _available(self) -> list[AppAction]:
        # Hide what cannot run now (e.g. "Cancel training" while idle), as the footer does.
        return [a for a in ACTIONS if self.app.check_action(a.action, ())]

    async def discover(self) -> Hits:
        for a in self._available():
            yield DiscoveryHit(a.palette, self._runner(a.action), help=a.tooltip)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for a in self._available():
            score = matcher.match(a.palette)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(a.palette), self._runner(a.action), help=a.tooltip
                )

    def _runner(self, action: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await self.app.run_action(action)

        return run
