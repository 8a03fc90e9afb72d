"""CDXJ index lines made as WARC records are written, instead of reading the WARC back.

A package's index (``indexes/index.cdx.gz``) used to be made by cdxj-indexer (driven by
py-wacz) decompressing and parsing every record of the finished WARC again. The writer knows
everything that index holds when it writes a record: where its gzip member starts and how long
it is, the bytes of that member (hashed as they are written), the headers it wrote. A
:class:`RecordIndex` turns each record into the line cdxj-indexer would make of it, with
py-wacz's options (``post_append``, ``digest_records``, the ``referrer`` field), written to a
side file as the crawl goes (memory stays flat however large the crawl); the package sorts
them and compresses them exactly as py-wacz does (cdxj-indexer's own writers).

A record this cannot index as cdxj-indexer would (a header it would read back differently,
a record without a payload digest) marks the index inexact; the package then indexes the
WARC as before. tests/test_cdxj.py compares the two line for line.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

# cdxj-indexer's rules, as py-wacz runs it (see the module docstring).
INDEXED = ("response", "revisit", "resource", "metadata")
_MIME_END = re.compile(r"[;\s]")  # CDXJIndexer.RE_SPACE


class RecordIndex:
    """The CDXJ lines of one WARC file's records, in the order written (unsorted)."""

    def __init__(self, path: Path, filename: str) -> None:
        """``path``: the side file the lines go to; ``filename``: the WARC's final name, as
        the index names it."""
        self.path = path
        self.filename = filename
        self.exact = True
        self._fh = open(path, "x", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def add(self, record: Any, offset: int, length: int, digest: str,
            request: Any = None, request_body: bytes = b"") -> None:
        """Index a warcio record just written at ``offset`` (``length`` bytes of the file,
        whose SHA-256 is ``digest``); ``request``: the request record written right after a
        response, concurrent to it, and its body (cdxj-indexer pairs them: referrer, a POST's
        body in the key)."""
        if not self.exact or record.rec_type not in INDEXED:
            return
        rec_headers = record.rec_headers
        content_type = rec_headers.get_header("Content-Type")
        if record.rec_type in ("resource", "metadata") and content_type == (
                "application/warc-fields"):
            return
        http = record.http_headers if record.rec_type in ("response", "revisit") else None
        url = rec_headers.get_header("WARC-Target-URI")
        date = rec_headers.get_header("WARC-Date")
        payload_digest = rec_headers.get_header("WARC-Payload-Digest")
        if record.rec_type == "revisit":
            mime = "warc/revisit"
        elif record.rec_type == "response":
            mime = http.get_header("Content-Type") if http is not None else None
        else:
            mime = content_type
        referrer = request.http_headers.get_header("Referer") if request is not None else None
        if not payload_digest or not all(_reads_back(v) for v in (
                url, date, mime, referrer, http.statusline if http is not None else "")):
            self.exact = False  # the package indexes the WARC itself
            return
        index: dict[str, str] = {"url": url}
        if mime is not None:
            index["mime"] = _MIME_END.split(mime, 1)[0].strip() if mime else mime
        if http is not None:
            index["status"] = http.get_statuscode()
        index.update(digest=payload_digest, length=str(length), offset=str(offset),
                     filename=self.filename, recordDigest=digest)
        if referrer:
            index["referrer"] = referrer
        key_url = url
        if request is not None and request.http_headers.protocol.upper() in ("POST", "PUT"):
            method = request.http_headers.protocol
            length_header = request.http_headers.get_header("Content-Length")
            body_type = request.http_headers.get_header("Content-Type")
            if not all(_reads_back(v) for v in (length_header, body_type)):
                self.exact = False
                return
            from cdxj_indexer.postquery import append_method_query

            query, appended = append_method_query(method, body_type, length_header,
                                                  BytesIO(request_body), url)
            index["requestBody"] = query
            index["method"] = method.upper()
            key_url = url + appended
        self._fh.write(f"{url_key(key_url)} {_timestamp(date)} {json.dumps(index)}\n")

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def url_key(url: str) -> str:
    """The SURT form of a URL, as cdxj-indexer keys its lines (the URL itself if it has
    none)."""
    import surt

    try:
        return surt.surt(url)
    except Exception:  # noqa: BLE001 - cdxj-indexer's own fallback, for the same URLs
        return url


# WARC-Date as this writer writes it (warcwriter.warc_date): its 14-digit timestamp is its
# digits, without warcio's strptime on every record.
_WARC_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d{1,6})?Z")


def _timestamp(date: str) -> str:
    """The CDXJ timestamp (``YYYYMMDDhhmmss``) of a WARC-Date, as cdxj-indexer makes it."""
    found = _WARC_DATE.fullmatch(date)
    if found:
        try:
            datetime(*map(int, found.groups()))  # a real moment, as warcio's parse requires
        except ValueError:
            pass
        else:
            return "".join(found.groups())
    from warcio.timeutils import iso_date_to_timestamp

    return iso_date_to_timestamp(date)


def _reads_back(value: str | None) -> bool:
    """Would a reader parse this header value back as it is? (ASCII, no surrounding space
    or line break: what warcio writes and reads back unchanged.)"""
    return value is None or (value.isascii() and value == value.strip()
                             and "\r" not in value and "\n" not in value)
