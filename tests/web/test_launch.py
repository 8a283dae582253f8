"""What a browser session inherits: exactly the settings `serve` resolved, through the
environment (textual-serve starts every session with the server's own environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from btc_tui.config import resolve
from btc_tui.errors import UsageError
from btc_tui.web.access import Gate, check_bind, is_loopback
from btc_tui.web.launch import session_command, settings_environment


def test_a_session_resolves_the_settings_serve_runs_with(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('theme = "nord"\nepochs = 7\nhistory = "2h"\n[keys]\ntrain = "ctrl+t"\n')
    flags = {
        "data": str(tmp_path / "my data.csv"),
        "demo": True,
        "window": "30",
        "interval": "0.9",
        "repair": False,
        "max_fill": "90m",
        "url": "ws://127.0.0.1:9999",
        "config": str(config),
    }
    served = resolve(flags, environ={}).settings
    assert served.theme == "nord" and served.keys["train"] == "ctrl+t"  # from the file

    # The session: no flags, serve's environment, and (through it) the same config file.
    session = resolve({}, environ=settings_environment(served)).settings
    assert session == served


def test_serve_only_options_stay_with_serve() -> None:
    served = resolve({"minutes": "5"}, environ={}, read_file=False).settings
    assert "BTC_TUI_MINUTES" not in settings_environment(served)


def test_the_session_command_runs_the_session_module_in_place_of_the_shell() -> None:
    assert session_command("/opt/my python/bin/python") == (
        "exec '/opt/my python/bin/python' -m btc_tui.web.session"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_nothing(host: str) -> None:
    assert is_loopback(host)
    assert check_bind(host, public=False, token=None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "myhost.example"])
def test_any_other_address_needs_public_and_warns(host: str) -> None:
    with pytest.raises(UsageError, match="--public"):
        check_bind(host, public=False, token=None)
    warning = check_bind(host, public=True, token=None)
    assert warning is not None
    assert "anyone who can reach this port" in warning and "training" in warning
    assert "no password" in warning
    assert "only with the token" in (check_bind(host, public=True, token="t") or "")


@pytest.mark.parametrize("token", ["", " padded", "two\nlines"])
def test_unusable_tokens_are_refused(token: str) -> None:
    with pytest.raises(UsageError, match="--token"):
        Gate(token, 4, 8000)


def test_at_least_one_session() -> None:
    with pytest.raises(UsageError, match="--max-sessions"):
        Gate(None, 0, 8000)


def test_serve_itself_imports_neither_textual_nor_tensorflow() -> None:
    """Only a session's process runs the app: serve stays small however many sessions run."""
    import subprocess
    import sys

    code = (
        "import sys, btc_tui.commands.serve, btc_tui.web.server, btc_tui.web.backend, "
        "btc_tui.web.launch, btc_tui.web.access, btc_tui.market.demo\n"
        "print(sorted(m for m in ('textual', 'tensorflow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
