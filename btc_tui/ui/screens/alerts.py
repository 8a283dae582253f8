"""The alerts screen (a): the rules listed, one added by typing it, the highlighted one removed;
every change is saved to the config file."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static

from btc_tui.market.alerts import EXAMPLES, parse_rule
from btc_tui.ui.alerting import Alerting

HELP = "enter adds · tab to the list, then delete removes the highlighted rule · escape closes"


class AlertsScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("delete", "remove", "Remove", show=False),
    ]

    def __init__(self, alerting: Alerting) -> None:
        super().__init__()
        self.alerting = alerting

    def compose(self) -> ComposeResult:
        with Vertical(id="alerts-box"):
            yield Static("Price alerts", id="alerts-title")
            yield OptionList(id="alerts-list")
            yield Input(placeholder="add a rule: " + EXAMPLES, id="alerts-input")
            yield Static("", id="alerts-message")
            yield Static(HELP, id="alerts-help")

    def on_mount(self) -> None:
        self._show()
        self.query_one(Input).focus()

    def _show(self) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        rules = self.alerting.rules
        options.add_options(rules or ["(no alerts yet)"])
        options.disabled = not rules

    def rows(self) -> list[str]:
        """The rules as listed (tests)."""
        return list(self.alerting.rules)

    @on(Input.Submitted)
    def add(self, event: Input.Submitted) -> None:
        message = self.query_one("#alerts-message", Static)
        text = event.value.strip()
        if not text:
            return
        try:
            rule = parse_rule(text)
        except ValueError as exc:
            message.update(str(exc))
            return
        if rule.text in self.alerting.rules:
            message.update(f"{rule.text!r} is already there")
            return
        self.alerting.set_rules((*self.alerting.rules, rule.text))
        event.input.value = ""
        message.update(f"added {rule.text!r}")
        self._show()

    def action_remove(self) -> None:
        options = self.query_one(OptionList)
        if self.focused is not options or options.highlighted is None or not self.alerting.rules:
            return
        rules = list(self.alerting.rules)
        removed = rules.pop(options.highlighted)
        self.alerting.set_rules(tuple(rules))
        self.query_one("#alerts-message", Static).update(f"removed {removed!r}")
        self._show()

    def action_close(self) -> None:
        self.dismiss(None)
