"""`btc-tui serve`: the app in a browser through textual-serve, safe by default.

- `access`   who may start a session: loopback by default, the token, the session cap (pages for
             the refused); plain aiohttp, no textual.
- `launch`   the command each browser session runs, and the settings it inherits.
- `backend`  the one collector (and in demo mode the simulator) behind the server: every session
             attaches to it, so sessions never fight over the CSV.
- `server`   textual-serve's Server with those checks in front and a clean stop.
- `session`  the entry point of one session's app process.

Importing this package never imports textual or tensorflow (only a session's process does).
"""
