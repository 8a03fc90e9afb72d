"""Passwords in URLs: replaced wherever a URL is recorded, removed from what a WARC names."""

import pytest

from archiver.redaction import (
    REDACTED,
    redact_text,
    redact_url,
    redact_values,
    url_secrets,
    without_credentials,
)


@pytest.mark.parametrize(("url", "shown"), [
    ("http://user:secret@host.example/p?q=1", f"http://user:{REDACTED}@host.example/p?q=1"),
    ("https://u:p%40ss@[::1]:8443/", f"https://u:{REDACTED}@[::1]:8443/"),
    ("http://u:p@ss@host.example/", f"http://u:{REDACTED}@host.example/"),  # last @ ends it
    ("socks5h://tor:pw@127.0.0.1:9050", f"socks5h://tor:{REDACTED}@127.0.0.1:9050"),
    ("http://user@host.example/", "http://user@host.example/"),  # a user name is no secret
    ("http://host.example/a@b", "http://host.example/a@b"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_a_warc_names_the_resource_without_user_information():
    assert without_credentials("http://u:pw@host.example:81/a?b#c") == "http://host.example:81/a?b#c"
    assert without_credentials("http://host.example/x@y") == "http://host.example/x@y"


def test_passwords_in_free_text_and_structures():
    text = "net::ERR_FAILED at http://u:hunter22@h.example/x and ftp://a:b@c/"
    assert redact_text(text) == (f"net::ERR_FAILED at http://u:{REDACTED}@h.example/x and "
                                 f"ftp://a:{REDACTED}@c/")
    assert redact_text("mail me: someone@example.org") == "mail me: someone@example.org"
    # A message that quotes the password outside a URL: the known secret is redacted too.
    secrets = url_secrets("http://u:hunter%2022@h.example/")
    assert secrets == ("hunter%2022", "hunter 22")
    assert redact_text("invalid hostname: u:hunter 22@h.example", secrets) == (
        f"invalid hostname: u:{REDACTED}@h.example")
    assert url_secrets("http://u:pw@h/") == ()  # too short to hunt for in free text
    data = {"pages": [{"url": "http://u:hunter22@h/"}], "n": 3, "t": ("http://a:bcdef@g/",)}
    assert redact_values(data) == {"pages": [{"url": f"http://u:{REDACTED}@h/"}], "n": 3,
                                   "t": (f"http://a:{REDACTED}@g/",)}
