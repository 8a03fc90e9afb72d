"""Settings: the documented example, environment overrides, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archiver.errors import IsnadError
from isnad.config import Settings, load_settings

EXAMPLE = Path(__file__).parent.parent / "config" / "isnad.example.toml"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("ISNAD_"):
            monkeypatch.delenv(key)


def test_the_example_file_loads_and_states_the_defaults():
    assert load_settings(EXAMPLE).model_dump() == Settings().model_dump()


def test_environment_overrides_the_file(monkeypatch, tmp_path):
    config = tmp_path / "isnad.toml"
    config.write_text('[storage]\nurl = "s3://from-file/x"\nretention_days = 30\n')
    monkeypatch.setenv("ISNAD_STORAGE__RETENTION_DAYS", "3650")
    monkeypatch.setenv("ISNAD_STORAGE__OBJECT_LOCK_MODE", "COMPLIANCE")
    settings = load_settings(config)
    (target,) = settings.storage_targets()
    assert (target.name, target.url) == ("s3", "s3://from-file/x")
    assert target.options()["retention_days"] == 3650
    assert target.options()["object_lock_mode"] == "COMPLIANCE"


def test_several_targets_from_the_environment(monkeypatch):
    monkeypatch.setenv("ISNAD_STORAGE__TARGETS", json.dumps([
        {"name": "local", "url": "/srv/isnad"},
        {"name": "eu", "url": "s3://b/p", "endpoint_url": "http://127.0.0.1:9", "legal_hold": True},
    ]))
    targets = load_settings().storage_targets()
    assert [t.name for t in targets] == ["local", "eu"]
    assert targets[0].options() == {}
    assert targets[1].options()["legal_hold"] is True


@pytest.mark.parametrize(("toml", "named"), [
    ('[storage]\nobject_lock_mode = "FOREVER"\n', "storage.object_lock_mode"),
    ('[storage]\npart_size_mib = 1\n', "storage.part_size_mib"),
    ('[capture]\nno_such_setting = 1\n', "capture.no_such_setting"),
    ('[platforms.x]\nproxy = "ftp://127.0.0.1:21"\n', "platforms.x.proxy"),
    ('[media]\nproxy = "socks5://no-port"\n', "media.proxy"),
])
def test_a_bad_setting_is_named(tmp_path, toml, named):
    config = tmp_path / "isnad.toml"
    config.write_text(toml)
    with pytest.raises(IsnadError, match=named.replace(".", r"\.")):
        load_settings(config)


def test_a_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(IsnadError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
