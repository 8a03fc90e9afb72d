"""Screenshots a person can read: emoji, CJK, Urdu, Persian and Arabic show as glyphs, not
as the empty box of a missing glyph. The fonts come from the Makefile's Debian packages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from archiver.states import CaptureState
from tests.fixture_site.server import CELL, SCRIPT_SAMPLES, script_cells
from tests.pngutil import decode
from tests.waczutil import datapackage, resource

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def test_installed_fonts_cover_every_sample_character():
    """fontconfig knows a font for each character (the Makefile installs them)."""
    if not shutil.which("fc-list"):
        pytest.skip("fontconfig's fc-list is not installed")
    missing = []
    for _lang, chars, _sentence in SCRIPT_SAMPLES.values():
        for char in chars:
            for point in char:
                found = subprocess.run(["fc-list", f":charset={ord(point):x}", "family"],
                                       capture_output=True, text=True, check=True).stdout
                if not found.strip():
                    missing.append(f"{char} U+{ord(point):04X}")
    assert not missing, f"no installed font has: {', '.join(missing)} (run `make test`)"


def _unreadable_cells(wacz: str) -> list[str]:
    """The sample cells of the screenshot that are blank or the missing-glyph box."""
    cells = script_cells()
    pixels = decode(resource(wacz, "urn:fullPage:").payload,
                    max_rows=max(top for *_, top in cells) + CELL)
    crops = {(name, text): pixels.crop(left, top, CELL, CELL)
             for name, _lang, text, left, top in cells}
    blank = crops[("reference", "")]
    boxes = {len(text): crop for (name, text), crop in crops.items()
             if name == "reference" and text}
    assert boxes[1] != blank, "the reference box did not render"
    bad = []
    for (name, text), crop in crops.items():
        if name == "reference":
            continue
        if crop == blank:
            bad.append(f"{name} {text!r}: blank")
        elif crop == boxes.get(len(text)):
            bad.append(f"{name} {text!r}: missing glyph box")
    return bad


@pytest.mark.e2e
def test_screenshot_shows_every_script(isnad, site):
    rec = isnad.capture(site.url("/scripts.html"), env={"ISNAD_MEDIA__ENABLED": "false"})
    assert rec["state"] == CaptureState.COMPLETE, rec
    assert _unreadable_cells(rec["package_location"]) == []
    # The context says which fonts drew it.
    fonts = datapackage(rec["package_location"])["isnad"]["font_packages"]
    for package in ("fonts-noto-core", "fonts-noto-color-emoji", "fonts-noto-cjk"):
        assert fonts.get(package), f"{package} not recorded: {fonts}"


@pytest.mark.e2e
def test_check_sees_missing_glyphs_with_dejavu_only(isnad, site, tmp_path):
    """The same page drawn with DejaVu alone (before the Makefile installed fonts): the
    check above finds the boxes, so it can fail."""
    if not DEJAVU.is_dir():
        pytest.skip("DejaVu fonts are not installed")
    config = tmp_path / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig><dir>{DEJAVU}</dir><cachedir>{tmp_path / 'fc-cache'}</cachedir>"
        "</fontconfig>\n")
    rec = isnad.capture(site.url("/scripts.html"),
                        env={"ISNAD_MEDIA__ENABLED": "false", "FONTCONFIG_FILE": str(config)})
    bad = _unreadable_cells(rec["package_location"])
    for expected in ("emoji '🔥'", "chinese '中'", "urdu 'ہ'"):
        assert any(b.startswith(expected) for b in bad), (expected, bad)
