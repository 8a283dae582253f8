"""Trades -> minute bars -> CSV. Imports neither textual nor tensorflow."""
