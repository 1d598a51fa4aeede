from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.commands import CommandParseError, RouterCommand, parse_command


@pytest.mark.parametrize(
    "text",
    [
        "connect @nurse-bot",
        "CONNECT @Nurse-Bot",
        "  connect   @nurse-bot  ",
        "connect nurse-bot",
        "Connect@nurse-bot",
        "connect @ nurse-bot",
        "connect @nurse-bot.",
        "\tconnect\n@nurse-bot\n",
        "\uff43\uff4f\uff4e\uff4e\uff45\uff43\uff54 @nurse-bot",  # full-width letters
    ],
)
def test_connect_variants_parse_to_the_handle(text: str) -> None:
    assert parse_command(text) == RouterCommand(verb="connect", handle="nurse-bot")


def test_disconnect_with_handle_parses() -> None:
    assert parse_command(" Disconnect @Nurse-Bot ") == RouterCommand(
        verb="disconnect", handle="nurse-bot"
    )


def test_bare_disconnect_parses_without_handle() -> None:
    assert parse_command("DISCONNECT!") == RouterCommand(verb="disconnect", handle=None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "connect",
        "connect @",
        "connect @ab",
        "connectnurse-bot",
        "connect @nurse_bot",
        "connect @nurse-bot please",
        "connect @" + "a" * 64,
        "connect @нурс-бот",
        "connect 🤖",
        "😀" * 10_000,
        "x" * 1_000_000,
        "\x00connect @nurse-bot",
    ],
)
def test_anything_else_raises_only_the_parse_error(text: str) -> None:
    with pytest.raises(CommandParseError):
        parse_command(text)


@given(st.text(max_size=500))
def test_arbitrary_text_parses_or_raises_the_parse_error(text: str) -> None:
    try:
        command = parse_command(text)
    except CommandParseError:
        return
    assert command.verb in {"connect", "disconnect"}
    assert command.handle is None or 3 <= len(command.handle) <= 63
