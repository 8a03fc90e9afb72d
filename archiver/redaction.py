"""Secrets kept out of what is recorded: passwords in URLs (``http://user:password@host/``).

A URL with credentials is how an investigator reaches a page behind HTTP authentication, and
how a proxy is configured. The password is Isnad's own secret, never part of the evidence:
the catalog, the capture context, custody events and what the CLI shows carry the URL with
the password replaced (the user name stays, so the record says credentials were used), and a
WARC names the resource without any user information, as it was asked for on the wire.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

REDACTED = "[redacted by Isnad]"

# scheme://user:password@ inside free text (error messages name URLs). The password runs to
# the last "@" before the path, as URL parsers read it.
_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#:@]*):([^\s/?#]*)@")


def redact_url(url: str) -> str:
    """``url`` with the password of its user information replaced by :data:`REDACTED`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if ":" not in userinfo:
        return url  # a user name alone is no secret
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{hostport}"))


def without_credentials(url: str) -> str:
    """``url`` without user information: the resource as a request line and Host header
    name it (credentials travel in an Authorization header, if at all)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def url_secrets(url: str) -> tuple[str, ...]:
    """The password of ``url`` as written and decoded (empty when there is none): to be
    redacted also where a message quotes it outside a URL ("invalid hostname: u:pw@host")."""
    password = urlsplit(url).password
    # A very short password would redact ordinary words; URLs with it are still redacted.
    if not password or len(unquote(password)) < _MIN_SECRET:
        return ()
    return tuple(dict.fromkeys([password, unquote(password)]))


_MIN_SECRET = 4


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Every URL password in free text (and every one of ``secrets``) replaced by
    :data:`REDACTED`."""
    if "@" in text:
        text = _CREDENTIALS.sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def redact_values(value: Any, secrets: tuple[str, ...] = ()) -> Any:
    """A JSON-like structure (dicts, lists, strings) with every URL password (and every one
    of ``secrets``) redacted."""
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {redact_values(k, secrets): redact_values(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_values(v, secrets) for v in value)
    return value
