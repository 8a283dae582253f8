"""Payload parsing: every shape Binance sends, and anything else counted as bad, never raised."""

from __future__ import annotations

import orjson
import pytest

from btc_tui.market.binance import (
    AggTrade,
    BadMessage,
    ControlReply,
    ErrorReply,
    ServerShutdown,
    Trade,
    format_trade,
    parse_agg_trade,
    parse_message,
    qty_to_units,
    trade_stream_url,
)
from tests.conftest import fixture_path

CURRENT = (
    '{"e":"trade","E":1680652800002,"s":"BTCUSDT","t":3071245455,"p":"28165.47000000",'
    '"q":"0.00128000","T":1680652800001,"m":true,"M":true}'
)


def test_current_trade_payload():
    trade = parse_message(CURRENT)
    assert trade == Trade(
        trade_id=3071245455,
        price=28165.47,
        qty=0.00128,
        qty_units=128000,
        trade_time=1680652800001,
        event_time=1680652800002,
        buyer_is_maker=True,
    )


def test_both_real_payload_shapes_parse():
    for folder in ("binance-ws-2022-05-21", "binance-spot-2023-04-05"):
        lines = fixture_path(folder, "trades.jsonl").read_text().splitlines()
        parsed = [parse_message(line) for line in lines]
        assert all(isinstance(m, Trade) for m in parsed), folder
        assert [m.trade_id for m in parsed] == [orjson.loads(x)["t"] for x in lines]


def test_combined_stream_wrapper_is_unwrapped():
    wrapped = '{"stream":"btcusdt@trade","data":' + CURRENT + "}"
    assert parse_message(wrapped) == parse_message(CURRENT)


def test_control_error_and_shutdown_messages():
    assert parse_message('{"result":null,"id":1}') == ControlReply(1, None)
    assert parse_message('{"result":["btcusdt@trade"],"id":2}') == ControlReply(
        2, ["btcusdt@trade"]
    )
    assert parse_message('{"error":{"code":2,"msg":"Invalid request"},"id":3}') == ErrorReply(
        2, "Invalid request"
    )
    assert parse_message('{"code":-1121,"msg":"Invalid symbol."}') == ErrorReply(
        -1121, "Invalid symbol."
    )
    assert parse_message('{"e":"serverShutdown","E":1700000000000}') == ServerShutdown(
        1700000000000
    )


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"\x00\x01binary", "binary"),
        ("not json at all", "json"),
        ("", "json"),
        ("[1,2,3]", "shape"),
        ('{"e":"trade","t":1,"p":"1.0","T":5}', "shape"),  # no quantity
        ('{"e":"trade","t":1,"p":1.0,"q":"1.0","T":5}', "shape"),  # price not a string
        ('{"e":"trade","t":1,"p":"abc","q":"1.0","T":5}', "shape"),
        ('{"e":"trade","t":1,"p":"-3.0","q":"1.0","T":5}', "shape"),
        ('{"e":"trade","t":1,"p":"3.0","q":"1.000000001","T":5}', "shape"),  # 9 decimals
        ('{"e":"kline","k":{}}', "unknown"),
    ],
)
def test_malformed_frames_become_bad_messages(raw, kind):
    message = parse_message(raw)
    assert isinstance(message, BadMessage)
    assert message.kind == kind


def test_quantity_units_are_exact():
    assert qty_to_units("0.00056000") == 56000
    assert qty_to_units("12") == 12 * 10**8
    assert qty_to_units("1.5") == 150_000_000
    with pytest.raises(ValueError):
        qty_to_units("1e-5")


def test_format_trade_round_trips_and_matches_binance_shape():
    text = format_trade("btcusdt", 7, "42000.12000000", "0.00123000", 1000, 1001, False)
    assert isinstance(text, str)  # a text frame, as Binance sends
    assert list(orjson.loads(text)) == ["e", "E", "s", "t", "p", "q", "T", "m", "M"]
    trade = parse_message(text)
    assert isinstance(trade, Trade)
    assert (trade.trade_id, trade.price, trade.qty_units) == (7, 42000.12, 123000)


def test_stream_url_is_the_raw_trade_stream():
    assert (
        trade_stream_url("wss://stream.binance.com:9443/", "BTCUSDT")
        == "wss://stream.binance.com:9443/ws/btcusdt@trade"
    )


AGG = {
    "a": 26129,
    "p": "0.01633102",
    "q": "4.70443515",
    "f": 27781,
    "l": 27784,
    "T": 1498793709153,
    "m": True,
    "M": True,
}


def test_agg_trade_parses_exactly():
    agg = parse_agg_trade(AGG)
    assert agg == AggTrade(
        agg_id=26129,
        price=0.01633102,
        qty_units=470443515,
        first_id=27781,
        last_id=27784,
        trade_time=1498793709153,
        buyer_is_maker=True,
    )
    assert agg.count == 4


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"a": None}, "integers"),
        ({"T": "1498793709153"}, "integers"),
        ({"f": True}, "integers"),
        ({"p": 0.5}, "strings"),
        ({"q": "1.123456789"}, "8 decimals"),
        ({"q": "-1"}, "8 decimals"),
        ({"p": "abc"}, "not a number"),
        ({"p": "0"}, "positive"),
        ({"m": "true"}, "true/false"),
        ({"l": 27780}, "l < f"),
    ],
)
def test_bad_agg_trade_is_a_value_error_naming_the_problem(change, words):
    with pytest.raises(ValueError, match=words):
        parse_agg_trade({**AGG, **change})


def test_agg_trade_missing_field_or_not_an_object():
    with pytest.raises(ValueError, match="lacks 'l'"):
        parse_agg_trade({k: v for k, v in AGG.items() if k != "l"})
    with pytest.raises(ValueError, match="not an object"):
        parse_agg_trade([1, 2])  # type: ignore[arg-type]
