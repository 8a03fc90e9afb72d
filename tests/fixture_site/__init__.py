"""The fixture web site served on 127.0.0.1 for tests and benchmarks."""

from tests.fixture_site.server import FixtureServer, gzip_page_plain_bytes

__all__ = ["FixtureServer", "gzip_page_plain_bytes"]
