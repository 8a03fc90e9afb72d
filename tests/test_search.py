"""Search's normalisation, query parsing, snippets and page text (archiver/search.py)."""

from __future__ import annotations

import pytest

from archiver.search import (
    Term,
    fts5_query,
    html_text,
    normalise,
    parse_query,
    snippet,
    tsquery,
    words,
)


@pytest.mark.parametrize(("written", "same_as"), [
    ("أرشيف", "ارشيف"),              # alef with hamza above
    ("إسلام", "اسلام"),              # alef with hamza below
    ("آثار", "اثار"),                # alef with madda
    ("ٱلرحمن", "الرحمن"),            # alef wasla
    ("مسؤول", "مسوول"),              # hamza on waw
    ("رئيس", "رييس"),                # hamza on yeh
    ("مستشفى", "مستشفي"),            # alef maqsura
    ("الأدلة", "الادله"),            # taa marbuta as haa
    ("مَدْرَسَةٌ", "مدرسه"),          # harakat and tanwin
    ("سلسلـــة", "سلسله"),           # tatweel
    ("رَحْمٰن", "رحمن"),              # superscript alef
    ("کتاب", "كتاب"),                # Persian keheh
    ("یک", "يك"),                    # Persian yeh
    ("ﻻ", "لا"),                     # presentation form ligature (NFKC)
    ("٢٠٢٤", "2024"),                # Arabic-Indic digits
    ("۱۴۰۲", "1402"),                # Persian digits
    ("می\u200cخواهم", "میخواهم"),     # zero-width non-joiner
    ("Café", "cafe"),
    ("STRASSE", "straße"),
])
def test_spellings_people_use_interchangeably_normalise_alike(written, same_as):
    assert normalise(written) == normalise(same_as)


def test_normalise_keeps_letters_that_differ():
    # Distinct letters must stay distinct: ه and ة merge, ح and خ must not.
    assert normalise("حبر") != normalise("خبر")
    assert normalise("عين") != normalise("غين")
    assert words("تُحذف المنشورات، ومقاطع الفيديو!") == ["تحذف", "المنشورات", "ومقاطع",
                                                      "الفيديو"]


def test_queries_are_words_phrases_and_prefixes():
    terms = parse_query('الأدلة "سلسلة الحيازة" أرشي*')
    assert terms == [Term(("الادله",)), Term(("سلسله", "الحيازه")), Term(("ارشي",), True)]
    assert fts5_query(terms) == '"الادله" AND "سلسله الحيازه" AND "ارشي"*'
    assert tsquery(terms) == "'الادله' & ('سلسله' <-> 'الحيازه') & 'ارشي':*"


@pytest.mark.parametrize("hostile", [
    '"', '""', '"unclosed', "*", "**", ":", "title:x", "NEAR(a b)", "a NEAR b", "-a", "a -b",
    "(", ")", "a OR b", "AND", "^a", "a'b", "'); DROP TABLE captures; --", "\\", "{a b}",
    "a:*", "!a", "a & b | c", "<->",
])
def test_hostile_input_becomes_plain_words(hostile):
    for term in parse_query(hostile):
        for word in term.words:
            assert word.isalnum()
    # Whatever comes out is quoted words only.
    query = fts5_query(parse_query(hostile))
    assert query.count('"') % 2 == 0


def test_snippet_marks_the_original_words():
    text = ("تُحذف المنشورات ومقاطع الفيديو التي توثّق الانتهاكات خلال ساعات من نشرها. "
            "<script>alert(1)</script>")
    shown = snippet([text], parse_query("توثق"))
    assert "<mark>توثّق</mark>" in shown  # as the page wrote it, shadda and all
    assert "&lt;script&gt;" in shown and "<script>" not in shown
    prefixed = snippet(["Evidence archives preserve evidentiary value"],
                       parse_query("evid*"))
    assert prefixed.count("<mark>") == 2 and "<mark>Evidence</mark>" in prefixed


def test_page_text_leaves_out_scripts_and_styles():
    title, body = html_text(
        "<html><head><title>أرشيف &amp; الأدلة</title><style>.x{color:red}</style>"
        "<script>var secret = 'لا تفهرس';</script></head><body><h1>عنوان</h1>"
        "<p>نص <b>مرئي</b></p><noscript>مخفي</noscript><img alt='صورة شاهد'></body></html>")
    assert title == "أرشيف & الأدلة"
    assert "مرئي" in body and "عنوان" in body and "صورة شاهد" in body
    assert "secret" not in body and "color" not in body and "مخفي" not in body


def _package(tmp_path, records: list[tuple[str, str, bytes, dict[str, str]]],
             extra: dict[str, bytes]):
    """A package-shaped zip: a WARC of HTTP responses under archive/, and ``extra`` files."""
    import io
    import zipfile

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    warc = io.BytesIO()
    writer = WARCWriter(warc, gzip=True)
    for url, status, body, headers in records:
        http = StatusAndHeaders(status, list(headers.items()), protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                      http_headers=http))
    path = tmp_path / "package.wacz"
    with zipfile.ZipFile(path, "w") as package:
        package.writestr("archive/data.warc.gz", warc.getvalue())
        for name, data in extra.items():
            package.writestr(name, data)
    return path


def test_package_text_reads_pages_posts_and_manifest_notes(tmp_path):
    import gzip
    import json

    from archiver.search import package_text

    html = ("<html><head><title>قناة الأخبار</title><script>var hidden='مخفي'</script></head>"
            "<body><p>قصفٌ قرب المستشفى</p></body></html>").encode()
    path = _package(tmp_path, [
        ("http://127.0.0.1/a", "200 OK", html, {"Content-Type": "text/html; charset=utf-8"}),
        ("http://127.0.0.1/gz", "200 OK",
         gzip.compress(b"<p>Shelling near the bakery</p>"),
         {"Content-Type": "text/html", "Content-Encoding": "gzip"}),
        ("http://127.0.0.1/gone", "404 Not Found", b"<p>This account was suspended</p>",
         {"Content-Type": "text/html"}),
        ("http://127.0.0.1/moved", "301 Moved", b"<p>Moved here</p>",
         {"Content-Type": "text/html", "Location": "/a"}),
        ("http://127.0.0.1/api", "200 OK", b'{"text": "json words"}',
         {"Content-Type": "application/json"}),
        ("http://127.0.0.1/latin1", "200 OK", "<p>Café résumé</p>".encode("latin-1"),
         {"Content-Type": "text/html; charset=iso-8859-1"}),
    ], {
        "pages/pages.jsonl": (b'{"format": "json-pages-1.0", "id": "pages", "title": "Pages"}\n'
                              b'{"url": "u", "title": "Page A"}\n'),
        "metadata/post.json": json.dumps({"text": "نص المنشور", "author_name": "مراسل",
                                          "media": [{"title": "video"}]}).encode(),
        "metadata/provenance.json": json.dumps({"files": [{"metadata": {"manifest_row": {
            "file": "a.mp4", "title": "مقطع من الحي", "notes": "filmed by a witness",
            "sha256": "0" * 64}}}]}).encode(),
    })
    found = package_text(path)
    assert found.titles == ["Page A", "قناة الأخبار"]
    assert "قصفٌ قرب المستشفى" in found.page_text and "bakery" in found.page_text
    assert "suspended" in found.page_text and "Café résumé" in found.page_text
    assert "مخفي" not in found.page_text and "Moved" not in found.page_text
    assert "json words" not in found.page_text
    assert found.post_text.split("\n") == ["نص المنشور", "مراسل", "video"]
    assert found.notes == ["مقطع من الحي", "filmed by a witness"]
    assert not found.truncated


def test_page_text_is_bounded_per_capture(tmp_path, monkeypatch):
    from archiver import search

    monkeypatch.setattr(search, "MAX_PAGE_TEXT", 100)
    pages = [(f"http://127.0.0.1/{n}", "200 OK", f"<p>{'كلمة ' * 30}page{n}</p>".encode(),
              {"Content-Type": "text/html; charset=utf-8"}) for n in range(5)]
    found = search.package_text(_package(tmp_path, pages, {}))
    assert found.truncated and len(found.page_text) <= 100
    assert "page4" not in found.page_text
