"""One module per subcommand; each exposes `run(...) -> exit code`. Imported only when chosen."""
