"""Reading packages in tests: WARC records out of a WACZ, with warcio."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator


@dataclass
class Rec:
    type: str
    uri: str | None
    headers: dict[str, str]
    http_status: str | None
    http_headers: list[tuple[str, str]]
    payload: bytes
    content_type: str | None


def records(wacz_path: str | Path) -> list[Rec]:
    out = []
    with zipfile.ZipFile(wacz_path) as z:
        for name in z.namelist():
            if not name.startswith("archive/"):
                continue
            data = z.read(name)
            for r in ArchiveIterator(io.BytesIO(data)):
                http = r.http_headers
                out.append(Rec(
                    type=r.rec_type,
                    uri=r.rec_headers.get_header("WARC-Target-URI"),
                    headers=dict(r.rec_headers.headers),
                    http_status=http.get_statuscode() if http and r.rec_type == "response"
                    else None,
                    http_headers=list(http.headers) if http else [],
                    payload=r.content_stream().read(),
                    content_type=r.rec_headers.get_header("Content-Type"),
                ))
    return out


def responses(wacz_path: str | Path) -> dict[str, Rec]:
    return {r.uri: r for r in records(wacz_path) if r.type == "response"}


def resource(wacz_path: str | Path, prefix: str) -> Rec:
    found = [r for r in records(wacz_path)
             if r.type == "resource" and (r.uri or "").startswith(prefix)]
    assert found, f"no resource record {prefix}*"
    return found[0]


def datapackage(wacz_path: str | Path) -> dict:
    with zipfile.ZipFile(wacz_path) as z:
        return json.loads(z.read("datapackage.json"))


def pages(wacz_path: str | Path) -> list[dict]:
    with zipfile.ZipFile(wacz_path) as z:
        lines = z.read("pages/pages.jsonl").decode().splitlines()
    return [json.loads(line) for line in lines[1:] if line.strip()]


def header(rec: Rec, name: str) -> str | None:
    for n, v in rec.http_headers:
        if n.lower() == name.lower():
            return v
    return None
