"""The archiver's WARC reader on real-world files written by other tools (../shared/samples)."""

from pathlib import Path

import pytest

from archiver.proof import ProofOptions
from archiver.verify import verify_package_file
from archiver.warcreader import check_warc

# ../shared/samples from the project root: the team's shared folder sits beside the checkout.
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def test_shared_samples_are_present():
    assert SAMPLES.is_dir(), f"{SAMPLES} is missing: clone the project beside shared/"

GOOD = [
    "warcio--example.warc.gz",
    "warcio--example-iana.org-chunked.warc",
    "pywb--example-wget-1-14.warc.gz",
    "pywb--example-wpull.warc.gz",
    "pywb--example.arc.gz",
    "pywb--post-test.warc.gz",
    "pywb--example-url-agnostic-orig.warc.gz",
    "pywb--example-url-agnostic-revisit.warc.gz",
]


@pytest.mark.parametrize("name", GOOD)
def test_reads_samples_from_other_tools(name):
    result = check_warc(SAMPLES / name)
    assert result.records, "no records read"
    assert result.ok, result.problems
    assert {r.record_type for r in result.records} & {"response", "revisit", "resource",
                                                      "request"}


def test_wget_sample_has_expected_response():
    result = check_warc(SAMPLES / "pywb--example-wget-1-14.warc.gz")
    responses = [r for r in result.records if r.record_type == "response"]
    assert any(r.uri == "http://example.com/" and r.status == "200" for r in responses)


def test_bad_arc_fails_clearly():
    result = check_warc(SAMPLES / "pywb--bad.arc")
    assert not result.ok
    assert "pywb--bad.arc" in result.problems[0]


def test_valid_wacz_from_py_wacz_verifies_as_unsigned_integrity_only():
    strict = verify_package_file(SAMPLES / "py-wacz--valid_example_1.wacz")
    assert [c.name for c in strict.mismatches] == ["signature of datapackage.json"]
    assert "unsigned: integrity only, no proof of origin" in strict.mismatches[0].detail
    report = verify_package_file(SAMPLES / "py-wacz--valid_example_1.wacz",
                                 ProofOptions(allow_unsigned=True))
    assert report.ok, [c.__dict__ for c in report.mismatches]


def test_invalid_wacz_is_refused_with_a_reason():
    report = verify_package_file(SAMPLES / "py-wacz--invalid_example_1.wacz")
    assert not report.ok
    assert report.mismatches[0].detail
