"""`python -m btc_tui` is the same as the `btc-tui` console script."""

from btc_tui.cli import main

raise SystemExit(main())
