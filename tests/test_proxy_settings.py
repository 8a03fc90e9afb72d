"""How a configured proxy is handed to Chromium and shown in a capture's record."""

from __future__ import annotations

from crawlers.middlewares import browser_proxy
from isnad.app.capture import shown_proxy


def test_chromium_gets_host_and_port_as_written_and_credentials_apart():
    assert browser_proxy("socks5h://u:p%40ss@[::1]:9050") == {
        "server": "socks5://[::1]:9050", "bypass": "<-loopback>",
        "username": "u", "password": "p@ss"}
    assert browser_proxy("http://127.0.0.1:8080") == {
        "server": "http://127.0.0.1:8080", "bypass": "<-loopback>"}


def test_the_recorded_proxy_keeps_its_address_and_loses_its_password():
    assert shown_proxy("socks5h://u:secret@[::1]:9050") == (
        "socks5h://u:[redacted by Isnad]@[::1]:9050")
    assert shown_proxy("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert shown_proxy(None) is None
