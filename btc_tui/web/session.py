"""One browser session's app process: `python -m btc_tui.web.session`, started by textual-serve.

It runs the ordinary app (`btc-tui` with no arguments: its settings come from the environment
`serve` exported, see `launch`), in a process group of its own: a Ctrl+C typed at `serve`'s
terminal goes to the whole foreground group, and an app in the web driver would die of it
half-way. This way only `serve` gets it, and it asks each session to quit in turn.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    os.setpgrp()
    from btc_tui.cli import main as cli_main

    return cli_main([])


if __name__ == "__main__":
    sys.exit(main())
