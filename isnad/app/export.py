"""Export bundles for a court or a partner, checkable with public tools only.

A bundle folder holds, per capture, the WACZ and its unpacked contents (so ``openssl`` can read
the WARCs, the media and ``datapackage.json`` the tokens name), the screenshots, PDFs and
rendered DOM as plain files, the signature in the form ``openssl dgst`` reads, late timestamp
tokens and the custody log; beside them the public signing key, the TSA certificates,
``verify.sh`` (the verification steps, public tools only), a report as HTML and PDF, and
``SHA256SUMS`` (``sha256sum -c`` format) over all of it. Each export is a custody event.
"""

from __future__ import annotations

import base64
import html
import json
import shlex
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from warcio.archiveiterator import ArchiveIterator

from archiver.archive import Archive
from archiver.catalog import CaptureRow
from archiver.errors import IsnadError
from archiver.hashing import sha256_bytes, sha256_file
from archiver.signing import PUBLIC_KEY_FILE, public_fingerprint, signature_der
from archiver.states import CopyState, CustodyAction, ProofState
from archiver.storage import LocalFolderStorage
from isnad import __version__
from isnad.config import Settings

# Resource records written as plain files. ``urn:fullPage:``, ``urn:view:`` and
# ``urn:thumbnail:`` follow Browsertrix; ``urn:screenshot:`` is the full-page screenshot of
# packages written before that.
SNAPSHOT_FILES = {"urn:fullPage:": ("screenshot", ".png"),
                  "urn:screenshot:": ("screenshot", ".png"),
                  "urn:view:": ("view", ".png"), "urn:thumbnail:": ("thumbnail", ".jpg"),
                  "urn:pdf:": ("page", ".pdf"), "urn:dom:": ("dom", ".html")}

# What verify.sh needs, and where a person gets it.
TOOLS = {"sha256sum": "GNU coreutils (apt install coreutils)",
         "openssl": "OpenSSL 3 (apt install openssl)",
         "wacz": "py-wacz (pip install wacz==0.6.0)"}


@dataclass
class Step:
    """One verification step: what it shows, and the public-tool command line that shows it.

    The command is a POSIX shell line, written as-is into ``verify.sh`` and shown as-is in the
    report, so what a reader copies is exactly what the script runs.
    """

    title: str
    command: str
    tool: str = ""  # the public tool it needs; by default the command's first word

    def __post_init__(self) -> None:
        self.tool = self.tool or self.command.split()[0]


def _line(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


@dataclass
class ExportedCapture:
    row: CaptureRow
    folder: Path
    files: list[tuple[str, str, int]]  # (bundle path, sha256, size) of the plain files
    tokens: list[dict[str, Any]]
    signed_hash: str | None
    events: list[dict[str, Any]]
    monitor: dict[str, Any] | None = None  # its monitor timeline entry (monitor.json)
    pages: list[dict[str, Any]] = field(default_factory=list)  # Catalog.pages


@dataclass
class Bundle:
    folder: Path
    captures: list[str]
    files: int


def export_bundle(archive: Archive, settings: Settings, ids: list[str], output: Path,
                  operator: str, progress: Callable[[str], None] = lambda _: None,
                  monitor: str | None = None) -> Bundle:
    """Write a bundle of the captures ``ids`` (and, with ``monitor``, of every packaged
    capture of that monitor, with its timeline) into the new folder ``output``."""
    from isnad.app.monitor_export import MonitorEntries, monitor_captures

    output = output.resolve()
    if output.exists() and any(output.iterdir()):
        raise IsnadError(f"export folder {output} is not empty: choose a new one")
    timeline = None
    if monitor:
        timeline, packaged, _ = monitor_captures(settings, archive, monitor)
        if not packaged:
            raise IsnadError(f"monitor {timeline['monitor']['id']} has no capture with a "
                             "package to export yet")
        ids = list(dict.fromkeys([archive.catalog.get(i).id for i in ids] + packaged))
    rows = [archive.catalog.get(i) for i in ids]
    for row in rows:
        if not row.package_key:
            raise IsnadError(f"capture {row.id} has no package ({row.state}: {row.error})")
    output.mkdir(parents=True, exist_ok=True)
    tsas = {t.name: t for t in settings.timestamps.tsa}
    exported = []
    entries = MonitorEntries(settings, archive, {timeline["monitor"]["id"]: timeline}
                             if timeline else None)
    for row in rows:
        progress(f"exporting {row.id}")
        exported.append(_export_capture(archive, row, output / row.id))
        exported[-1].monitor = entry = entries.entry(row)
        if entry is not None:  # its place in its monitor's history, hashed with the rest
            _write_json(output / row.id / "monitor.json", entry)
    if timeline is not None:
        _write_json(output / "timeline.json", timeline)
    key_dir = settings.key_dir
    fingerprint = public_fingerprint(key_dir)
    if fingerprint:
        (output / "keys").mkdir()
        shutil.copyfile(key_dir / PUBLIC_KEY_FILE, output / "keys" / PUBLIC_KEY_FILE)
    used = sorted({t["tsa"] for c in exported for t in c.tokens})
    for name in used:
        if name in tsas:
            folder = output / "tsa" / name
            folder.mkdir(parents=True)
            shutil.copyfile(tsas[name].ca_file, folder / "root.pem")
            if tsas[name].certs_file:
                shutil.copyfile(tsas[name].certs_file, folder / "tsa.pem")
    steps = verification_steps(output, exported, bool(fingerprint))
    _write_script(output, steps)
    progress("writing the report")
    report_html = render_report(exported, steps, fingerprint, operator, settings, timeline)
    (output / "report.html").write_text(report_html, encoding="utf-8")
    render_pdf(output / "report.html", output / "report.pdf", settings.browser.executable_path,
               paper=settings.capture.paper)
    count = _write_sums(output)
    sums_hash = sha256_file(output / "SHA256SUMS")[0]
    for capture in exported:
        archive.record_event(
            capture.row.id, operator, CustodyAction.EXPORTED, capture.row.package_sha256, {
                "to": str(output), "by": operator, "bundle_files": count,
                "sha256sums_sha256": sums_hash, **({"monitor": timeline["monitor"]["id"]}
                                                   if timeline else {})})
    return Bundle(output, [c.row.id for c in exported], count)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n",
                    encoding="utf-8")


def _export_capture(archive: Archive, row: CaptureRow, folder: Path) -> ExportedCapture:
    folder.mkdir()
    wacz = folder / f"{row.id}.wacz"
    _fetch_package(archive, row, wacz)
    got = sha256_file(wacz)[0]
    if got != row.package_sha256:
        raise IsnadError(f"the stored package of {row.id} hashes to {got}, the catalog says "
                         f"{row.package_sha256}: not exported (run `isnad verify {row.id}`)")
    unpacked = folder / "package"
    with zipfile.ZipFile(wacz) as zf:
        for name in zf.namelist():
            target = PurePosixPath(name)
            if target.is_absolute() or ".." in target.parts:
                raise IsnadError(f"package {row.id} holds an unsafe path {name!r}")
        zf.extractall(unpacked)
    files = _extract_snapshots(unpacked, folder / "files")
    for media in sorted((unpacked / "media").rglob("*")):  # already plain files, once
        if media.is_file():
            digest, size = sha256_file(media)
            files.append((media.relative_to(folder).as_posix(), digest, size))
    digest = json.loads((unpacked / "datapackage-digest.json").read_text())
    signed = digest.get("signedData")
    signed_hash = None
    if signed:
        (folder / "signature").mkdir()
        signed_hash = signed["hash"]
        (folder / "signature" / "signed-hash.txt").write_bytes(signed_hash.encode("utf-8"))
        (folder / "signature" / "signature.der").write_bytes(signature_der(signed))
    tokens = []
    for sealed in digest.get("timestamps", []):  # the tokens on datapackage.json, inline
        plain = folder / "timestamps" / PurePosixPath(sealed["name"]).name
        plain.parent.mkdir(exist_ok=True)
        plain.write_bytes(base64.b64decode(sealed["token"]))
        tokens.append({**{k: v for k, v in sealed.items() if k != "token"},
                       "state": ProofState.STAMPED,
                       "token_file": f"{row.id}/timestamps/{plain.name}"})
    entries = ((row.context or {}).get("proof") or {}).get("timestamps", [])
    for entry in entries:
        if entry.get("state") == ProofState.STAMPED and entry["subject"] != "datapackage.json":
            tokens.append({**entry, "token_file": f"{row.id}/package/{entry['path']}"})
        elif entry.get("state") == ProofState.LATE:
            late = folder / "late-timestamps" / PurePosixPath(entry["path"]).name
            late.parent.mkdir(exist_ok=True)
            late.write_bytes(_stored_bytes(archive, row, entry["key"]))
            tokens.append({**entry, "token_file": f"{row.id}/late-timestamps/{late.name}"})
    events = [json.loads(e.to_json()) for e in archive.catalog.events(row.id)]
    (folder / "custody.json").write_text(json.dumps(events, indent=1, ensure_ascii=False),
                                         encoding="utf-8")
    return ExportedCapture(row, folder, files, tokens, signed_hash, events,
                           pages=archive.catalog.pages(row.id))


def _fetch_package(archive: Archive, row: CaptureRow, dest: Path) -> None:
    for copy in row.copies:
        if copy.state == CopyState.STORED and copy.key:
            target = archive.target(copy.target)
            if isinstance(target, LocalFolderStorage):
                shutil.copyfile(target.location(copy.key), dest)
            else:
                target.download(copy.key, dest)
            return
    if row.spool_path and Path(row.spool_path).is_file():
        shutil.copyfile(row.spool_path, dest)
        return
    raise IsnadError(f"no copy of the package of {row.id} can be read")


def _stored_bytes(archive: Archive, row: CaptureRow, key: str) -> bytes:
    for copy in row.copies:
        if copy.state == CopyState.STORED:
            return archive.target(copy.target).read_bytes(key)
    raise IsnadError(f"{key} of {row.id}: no storage target holds it")


def _extract_snapshots(unpacked: Path, dest: Path) -> list[tuple[str, str, int]]:
    """Screenshots, PDFs and rendered DOMs, from the WARC resource records, as plain files."""
    dest.mkdir()
    found: list[tuple[str, str, int]] = []
    counts: dict[str, int] = {}
    for warc in sorted((unpacked / "archive").glob("*.warc*")):
        with open(warc, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type != "resource":
                    continue
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                kind = next((v for k, v in SNAPSHOT_FILES.items() if uri.startswith(k)), None)
                if kind is None:
                    continue
                stem, suffix = kind
                counts[stem] = counts.get(stem, 0) + 1
                name = f"{stem}-{counts[stem]:03d}{suffix}"
                data = record.content_stream().read()
                (dest / name).write_bytes(data)
                found.append((f"files/{name}", sha256_bytes(data), len(data)))
                (dest / f"{name}.url.txt").write_text(uri.split(":", 2)[2] + "\n")
    return found


def verification_steps(output: Path, captures: list[ExportedCapture], signed: bool
                       ) -> list[Step]:
    steps = [Step("Every file of this bundle is as exported (SHA-256)",
                  _line("sha256sum", "-c", "SHA256SUMS"))]
    for capture in captures:
        cid = capture.row.id
        for token in capture.tokens:
            tsa_dir = f"tsa/{token['tsa']}"
            command = ["openssl", "ts", "-verify", "-in", token["token_file"],
                       "-data", f"{cid}/package/{token['subject']}",
                       "-CAfile", f"{tsa_dir}/root.pem"]
            if (output / tsa_dir / "tsa.pem").exists():
                command += ["-untrusted", f"{tsa_dir}/tsa.pem"]
            steps.append(Step(f"{cid}: {token['subject']} existed at {token.get('gen_time')} "
                              f"(RFC 3161 token of {token['tsa']})", _line(*command)))
        if capture.signed_hash and signed:
            steps.append(Step(
                f"{cid}: the package manifest is signed by the Isnad key",
                _line("openssl", "dgst", "-sha256", "-verify", f"keys/{PUBLIC_KEY_FILE}",
                      "-signature", f"{cid}/signature/signature.der",
                      f"{cid}/signature/signed-hash.txt")))
            hex_ = capture.signed_hash.partition(":")[2]
            steps.append(Step(
                f"{cid}: the signed hash ({capture.signed_hash}) is the hash of "
                "datapackage.json, which lists every file of the package with its hash",
                # hex and capture ids need no quoting: the line reads the same in the report
                f'echo "{hex_}  {cid}/package/datapackage.json" | sha256sum -c', "sha256sum"))
        steps.append(Step(f"{cid}: the WACZ package is valid and its files match their hashes",
                          _line("wacz", "validate", "-f", f"{cid}/{cid}.wacz")))
    return steps


def _write_script(output: Path, steps: list[Step]) -> None:
    tools = sorted({step.tool for step in steps} | {"sha256sum"})
    lines = ["#!/bin/sh",
             "# Verify this bundle with public tools only (sha256sum, openssl, wacz).",
             "# Run from the bundle folder: sh verify.sh", "set -e", 'cd "$(dirname "$0")"',
             "# Every tool first, so a missing one stops nothing halfway.", "missing=0"]
    for tool in tools:
        lines += [f"if ! command -v {tool} >/dev/null 2>&1; then",
                  f"  echo {shlex.quote(f'verify.sh needs {tool}: install {TOOLS[tool]}')} >&2",
                  "  missing=1", "fi"]
    lines += ['if [ "$missing" = 1 ]; then echo "Nothing was checked." >&2; exit 2; fi']
    for step in steps:
        lines += [f"echo {shlex.quote('== ' + step.title)}", step.command]
    lines.append("echo 'All checks passed.'")
    path = output / "verify.sh"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)


def _write_sums(output: Path) -> int:
    files = sorted(p for p in output.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    lines = [f"{sha256_file(p)[0]}  {p.relative_to(output).as_posix()}" for p in files]
    (output / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return len(files)


def render_pdf(source: Path, dest: Path, chromium: str, paper: str = "A4") -> None:
    """The report as PDF, printed by the same Chromium that captures, on the paper size of
    the captures' own page PDFs (``capture.paper``, A4 unless configured)."""
    from playwright.sync_api import Error, sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(source.as_uri())
            page.pdf(path=str(dest), format=paper, print_background=True,
                     margin={"top": "15mm", "bottom": "15mm", "left": "12mm",
                             "right": "12mm"})
            browser.close()
    except Error as exc:
        raise IsnadError(f"cannot print the report to PDF with {chromium}: {exc}") from exc


def render_report(captures: list[ExportedCapture], steps: list[Step], fingerprint: str | None,
                  operator: str, settings: Settings,
                  timeline: dict[str, Any] | None = None) -> str:
    e = html.escape
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = [f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Isnad evidence export</title><style>
body{{font-family:"DejaVu Sans",Arial,sans-serif;font-size:10.5pt;color:#111;margin:0}}
h1{{font-size:17pt;margin:0 0 4pt}} h2{{font-size:13pt;border-bottom:1px solid #888;
margin-top:18pt;page-break-after:avoid}} h3{{font-size:11pt;margin:12pt 0 4pt}}
table{{border-collapse:collapse;width:100%;margin:4pt 0 8pt;table-layout:fixed}}
td,th{{border:1px solid #bbb;padding:2pt 4pt;vertical-align:top;text-align:left;
overflow-wrap:anywhere}} th{{background:#eee;width:26%}}
code,pre{{font-family:"DejaVu Sans Mono",monospace;font-size:8.5pt;overflow-wrap:anywhere}}
pre{{background:#f4f4f4;padding:4pt;white-space:pre-wrap}} .ok{{color:#064}}
.warn{{color:#a40}} .small{{font-size:9pt;color:#444}} a{{color:#035}}
.shot img{{max-width:70%;max-height:95mm;border:1px solid #999}} .shot{{margin:4pt 0}}
tr,img,li{{page-break-inside:avoid}}
</style></head><body>
<h1>Evidence export</h1>
<p class="small">Made by Isnad {e(__version__)} on {e(now)} for {e(operator)}.
{len(captures)} capture(s).</p>"""]
    if fingerprint:
        parts.append(f"<p>Packages are signed with the key whose fingerprint is "
                     f"<code>{e(fingerprint)}</code> (file <code>keys/{PUBLIC_KEY_FILE}"
                     f"</code>). Confirm that fingerprint with its holder by another channel."
                     f"</p>")
    if timeline is not None:
        from isnad.app.monitor_export import timeline_section

        parts.append(timeline_section(timeline, {c.row.id for c in captures}))
    for capture in captures:
        parts.append(_capture_section(capture))
    parts.append("<h2>How to verify this bundle without Isnad</h2><p>Each step uses a public "
                 "tool: <code>sha256sum</code> (GNU coreutils), <code>openssl</code>, and "
                 "<code>wacz</code> (<code>pip install wacz==0.6.0</code>). Run them from the "
                 "bundle folder, or run <code>sh verify.sh</code>, which checks first that "
                 "every tool is installed, holds the same commands and stops at the first "
                 "failure. The signature is checked with <code>openssl dgst</code>: "
                 "<code>wacz validate --verify-auth</code> checks only signatures made with a "
                 "domain certificate and reports this key's (anonymous) signature as not "
                 "verified, so it is not used here; ReplayWeb.page also verifies it.</p><ol>")
    for step in steps:
        parts.append(f"<li>{e(step.title)}<pre>{e(step.command)}</pre></li>")
    parts.append("</ol><p>Expected results: <code>sha256sum</code> prints <code>OK</code> for "
                 "every file; <code>openssl ts -verify</code> prints <code>Verification: OK"
                 "</code>; <code>openssl dgst</code> prints <code>Verified OK</code>; "
                 "<code>wacz validate</code> exits 0. One changed byte in any file makes a "
                 "step fail. The custody log in each <code>custody.json</code> is a hash chain: "
                 "each event's <code>prev_hash</code> is the <code>hash</code> of the one "
                 "before; this export is itself recorded as a further event after these files "
                 "were written.</p></body></html>")
    return "\n".join(parts)


def _capture_section(capture: ExportedCapture) -> str:
    e = html.escape
    row = capture.row
    cid = row.id
    ctx = row.context or {}
    versions = ctx.get("software") or {}
    servers = ctx.get("servers") or {}
    pages = capture.pages
    title = next((p.get("title") for p in pages if p.get("title")), "") or ""
    rows = [
        ("Page title", title or "(none)"),
        ("Capture id", row.id), ("URL asked", row.url),
        ("Final URL", row.final_url or ""), ("State", row.state + (
            f" — {'; '.join(row.reasons)}" if row.reasons else "")),
        ("Started (UTC)", ctx.get("started_at", "")), ("Ended (UTC)", ctx.get("ended_at", "")),
        ("Requested by", row.operator), ("Case", row.case_id or ""),
        ("Tags", ", ".join(row.tags or [])), ("Note", row.note or ""),
        ("Package", f"{row.id}.wacz — sha256 {row.package_sha256} ({row.package_size} bytes)"),
        ("Tools", ", ".join(f"{k} {v}" for k, v in versions.items())
         if isinstance(versions, dict) else str(versions)),
        ("User agent", str((ctx.get("browser") or {}).get("user_agent") or "")),
    ]
    if capture.monitor is not None:
        from isnad.app.monitor_export import capture_line

        rows.append(("Monitor", capture_line(capture.monitor)))
    out = [f"<h2>{e(title or row.url)}</h2>"]
    picture = _picture(capture)
    if picture:
        out.append(f"<p class='shot'><a href='{e(picture[1])}'><img src='{e(picture[0])}' "
                   f"alt='screenshot of the captured page'></a><br><span class='small'>First "
                   f"screen of the page as captured; the whole page is in "
                   f"<a href='{e(picture[1])}'>{e(picture[1])}</a>.</span></p>")
    out.append("<table>")
    out += [f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows]
    out.append(f"</table><h3>Pages ({len(pages)}, as the package's pages/pages.jsonl lists "
               "them)</h3>")
    if pages:
        out.append("<table><tr><th>Captured (UTC)</th><td><b>URL</b>, title</td></tr>")
        out += [f"<tr><th>{e(str(p.get('ts') or ''))}</th><td><code>{e(str(p.get('url')))}"
                f"</code> {e(str(p.get('title') or ''))}</td></tr>" for p in pages]
        out.append("</table>")
    out.append("<h3>Servers contacted</h3>")
    if servers and isinstance(servers, dict):
        out.append("<table><tr><th>Host name</th><td><b>IP address it answered from</b>"
                   "</td></tr>")
        out += [f"<tr><th>{e(str(host))}</th><td><code>{e(str(ip))}</code></td></tr>"
                for host, ip in sorted(servers.items())]
        out.append("</table>")
        if (ctx.get("network") or {}).get("proxy"):
            out.append("<p class='small'>Captured through a proxy: the addresses are the "
                       "proxy's.</p>")
    else:
        out.append("<p class='small'>No server address was recorded.</p>")
    out.append("<h3>Files (as plain files in this bundle)</h3><table>"
               "<tr><th>File</th><td><b>SHA-256</b> and size</td></tr>")
    out += [f"<tr><th><a href='{e(cid)}/{e(p)}'>{e(p)}</a></th><td><code>{e(h)}</code> "
            f"{n} bytes</td></tr>" for p, h, n in capture.files]
    if not capture.files:
        out.append("<tr><th>none</th><td>captured without a browser: no screenshot, PDF or "
                   "rendered DOM</td></tr>")
    out.append(f"<tr><th><a href='{e(cid)}/{e(cid)}.wacz'>{e(cid)}.wacz</a></th><td>the "
               f"signed package; unpacked in <a href='{e(cid)}/package/'>package/</a>; "
               f"custody log <a href='{e(cid)}/custody.json'>custody.json</a></td></tr>")
    out.append("</table><h3>Trusted timestamps (RFC 3161)</h3>")
    if capture.tokens:
        out.append("<table><tr><th>Item</th><td><b>Time, authority, token</b></td></tr>")
        late = " (obtained late)"
        out += [f"<tr><th>{e(t['subject'])}</th><td>{e(str(t.get('gen_time')))} by "
                f"{e(t['tsa'])}{late if t.get('state') == ProofState.LATE else ''}<br>"
                f"<code>{e(t['token_file'])}</code></td></tr>" for t in capture.tokens]
        out.append("</table>")
    else:
        out.append("<p class='warn'>No trusted timestamp: no TSA was configured or every "
                   "TSA failed.</p>")
    pending = [t for t in ((ctx.get("proof") or {}).get("timestamps") or [])
               if t.get("state") == ProofState.PENDING]
    if pending:
        out.append("<p class='warn'>Still pending: " + e(", ".join(
            f"{t['subject']} by {t['tsa']}" for t in pending)) + "</p>")
    out.append("<h3>Custody log</h3><table><tr><th>#, time (UTC), actor</th>"
               "<td><b>action, object SHA-256, event hash</b></td></tr>")
    for ev in capture.events:
        out.append(f"<tr><th>{ev['seq']}. {e(ev['time'])}<br>{e(ev['actor'])}</th><td>"
                   f"<b>{e(ev['action'])}</b> <code>{e(ev.get('object_sha256') or '')}</code>"
                   f"<br><span class='small'>hash <code>{e(ev['hash'])}</code></span></td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _picture(capture: ExportedCapture) -> tuple[str, str] | None:
    """(image shown, image linked), bundle-relative: the thumbnail (or the first screen, or
    the full page of an older package) linking to the full-page screenshot."""
    paths = [p for p, _, _ in capture.files]
    full = next((p for p in paths if p.startswith("files/screenshot-")), None)
    shown = next((p for prefix in ("files/thumbnail-", "files/view-", "files/screenshot-")
                  for p in paths if p.startswith(prefix)), None)
    if shown is None:
        return None
    cid = capture.row.id
    return f"{cid}/{shown}", f"{cid}/{full or shown}"
