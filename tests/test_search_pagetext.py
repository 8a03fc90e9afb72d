"""The page text the WARC writer keeps as it writes (archiver/pagetext.py) is the text the
full-text index read back from the WARC before: same pages, same words, same order."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archiver import search
from archiver.search import package_text
from archiver.warcwriter import CaptureWarc

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = [SHARED / "samples" / name for name in (
    "warcio--example.warc.gz", "warcio--example-iana.org-chunked.warc",
    "pywb--example-wget-1-14.warc.gz", "pywb--example-wpull.warc.gz",
    "pywb--post-test.warc.gz", "pywb--example-url-agnostic-orig.warc.gz")]
PAGES = sorted((SHARED / "real-platforms").glob("*/*.html"))


def _real_responses() -> list[tuple[str, str, list[tuple[str, str]], bytes]]:
    """Every response of the real-world sample WARCs as their servers sent it (status line,
    headers, the body as stored: chunked, gzipped, whatever it was)."""
    found = []
    for path in SAMPLES:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "response" and record.http_headers:
                    found.append((record.rec_headers.get_header("WARC-Target-URI"),
                                  record.http_headers.statusline,
                                  list(record.http_headers.headers),
                                  record.raw_stream.read()))
    return found


def _rerecord(tmp_path: Path, name: str, responses, resources=()) -> tuple[Path, dict]:
    """The responses (and HTML resources) written by Isnad's WARC writer, in a package-shaped
    zip; and the text that writer kept, as the capture hands it to the index."""
    warc = CaptureWarc(tmp_path / f"{name}.warc.gz", {"software": "test"})
    for url, statusline, headers, body in responses:
        code, _, reason = statusline.partition(" ")
        warc.write_exchange(url=url, method="GET", request_headers=[], request_body=None,
                            status=int(code), reason=reason or None, response_headers=headers,
                            body=body)
    for url, content_type, data in resources:
        warc.write_resource(url, content_type, data)
    closed = warc.close()
    path = tmp_path / f"{name}.wacz"
    with zipfile.ZipFile(path, "w") as package:
        package.write(closed, f"archive/{closed.name}")
    return path, {f"archive/{closed.name}": warc.texts}


@pytest.mark.skipif(not all(p.exists() for p in SAMPLES) or not PAGES,
                    reason="../shared samples absent")
def test_text_kept_while_writing_is_the_text_read_back_on_real_pages(tmp_path, monkeypatch):
    responses = _real_responses()
    # Real pages of platforms (served as a server would: some gzipped), and a page twice.
    for n, page in enumerate(PAGES):
        body = page.read_bytes()
        headers = [("Content-Type", "text/html; charset=utf-8")]
        if n % 2:
            body = gzip.compress(body)
            headers.append(("Content-Encoding", "gzip"))
        responses.append((f"https://platform.test/{page.parent.name}/{page.name}", "200 OK",
                          headers, body))
    responses.append(responses[0])
    resources = [("urn:dom:https://platform.test/", "text/html", PAGES[0].read_bytes())]
    path, texts = _rerecord(tmp_path, "real", responses, resources)
    kept = texts[next(iter(texts))]
    assert kept.complete and len(kept.entries) >= len(PAGES) + 3
    read_back = package_text(path)
    assert package_text(path, texts) == read_back
    assert "Example Domain" in read_back.titles and len(read_back.page_text) > 5000
    # And where the index's bound cuts the text in the middle of the pages.
    monkeypatch.setattr(search, "MAX_PAGE_TEXT", len(read_back.page_text) // 2)
    read_back = package_text(path)
    assert read_back.truncated and package_text(path, texts) == read_back


def test_the_warc_is_read_back_when_the_writer_did_not_read_a_body(tmp_path):
    page = (b"<html><head><title>Spooled</title></head><body><p>written from a stream</p>"
            b"</body></html>")
    warc = CaptureWarc(tmp_path / "s.warc.gz", {"software": "test"})
    warc.write_exchange(url="http://127.0.0.1/s", method="GET", request_headers=[],
                        request_body=None, status=200, reason="OK",
                        response_headers=[("Content-Type", "text/html")], body=io.BytesIO(page))
    closed = warc.close()
    assert not warc.texts.complete  # a body handed over as a stream is not read here
    path = tmp_path / "s.wacz"
    with zipfile.ZipFile(path, "w") as package:
        package.write(closed, f"archive/{closed.name}")
    found = package_text(path, {f"archive/{closed.name}": warc.texts})
    assert found.titles == ["Spooled"] and found.page_text == "written from a stream"


def test_text_cut_at_the_writers_bound_is_read_back_when_more_is_needed(tmp_path, monkeypatch):
    """Two WARCs with the same first page: the index reads the first page once, so it needs
    more of the second WARC's text than that WARC's writer kept within its bound."""
    pages = [(f"http://127.0.0.1/{n}", "200 OK", [("Content-Type", "text/html")],
              f"<p>page{n} {'word ' * 20}</p>".encode()) for n in range(6)]
    monkeypatch.setattr("archiver.pagetext.MAX_PAGE_TEXT", 300)
    first = CaptureWarc(tmp_path / "a.warc.gz", {"software": "test"})
    second = CaptureWarc(tmp_path / "b.warc.gz", {"software": "test"})
    for warc, written in ((first, pages[:1]), (second, pages)):
        for url, _status, headers, body in written:
            warc.write_exchange(url=url, method="GET", request_headers=[], request_body=None,
                                status=200, reason="OK", response_headers=headers, body=body)
    assert second.texts.full  # its writer stopped keeping text at 300 characters
    path = tmp_path / "two.wacz"
    with zipfile.ZipFile(path, "w") as package:
        for warc in (first, second):
            closed = warc.close()
            package.write(closed, f"archive/{closed.name}")
    texts = {"archive/a.warc.gz": first.texts, "archive/b.warc.gz": second.texts}
    monkeypatch.setattr(search, "MAX_PAGE_TEXT", 400)
    read_back = package_text(path)
    assert "page3" in read_back.page_text  # past what the second writer kept
    assert not any("page3" in e.text for e in second.texts.entries)
    assert package_text(path, texts) == read_back
