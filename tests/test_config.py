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


@pytest.mark.parametrize(("variable", "value", "named", "says"), [
    ("ISNAD_CAPTURE__TOTAL_TIMEOUT", "1e309", "capture.total_timeout",
     "Input should be a finite number, got 1e309"),
    ("ISNAD_CAPTURE__PAGE_TIMEOUT", "nan", "capture.page_timeout", "finite number"),
    ("ISNAD_CAPTURE__PAGE_TIMEOUT", "1e12", "capture.page_timeout",
     "less than or equal to 86400"),
    ("ISNAD_CAPTURE__MAX_BYTES", str(2**70), "capture.max_bytes", "less than or equal to"),
    ("ISNAD_CAPTURE__VIEWPORT_WIDTH", "100000", "capture.viewport_width",
     "less than or equal to 16384"),
    ("ISNAD_MEDIA__MAX_DURATION", "inf", "media.max_duration", "finite number"),
    ("ISNAD_STORAGE__PART_SIZE_MIB", "999999", "storage.part_size_mib",
     "less than or equal to 5120"),
    ("ISNAD_STORAGE__BACKOFF", "-1", "storage.backoff", "greater than or equal to 0"),
    ("ISNAD_TIMESTAMPS__MAX_DELAY_MINUTES", "1e309", "timestamps.max_delay_minutes",
     "finite number"),
])
def test_numbers_are_finite_and_bounded_and_the_error_names_both(monkeypatch, variable, value,
                                                                 named, says):
    monkeypatch.setenv(variable, value)
    with pytest.raises(IsnadError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"invalid settings: {named} ({variable}): ")
    assert says in message and "\n" not in message


def test_a_bad_value_in_the_file_names_the_file_and_the_variable(tmp_path):
    config = tmp_path / "isnad.toml"
    config.write_text("[capture]\ntotal_timeout = inf\n")
    with pytest.raises(IsnadError, match=r"capture\.total_timeout \(ISNAD_CAPTURE__TOTAL_TIMEOUT "
                       r"or capture\.total_timeout in .*isnad\.toml\): Input should be a finite"):
        load_settings(config)


def test_storage_targets_errors_are_readable(monkeypatch):
    monkeypatch.setenv("ISNAD_STORAGE__TARGETS", "[{name: local}]")
    with pytest.raises(IsnadError) as caught:
        load_settings()
    assert str(caught.value).startswith(
        "invalid settings: storage.targets (ISNAD_STORAGE__TARGETS): not valid JSON (")
    assert "EnvSettingsSource" not in str(caught.value)
    monkeypatch.setenv("ISNAD_STORAGE__TARGETS", json.dumps([
        {"name": "local", "url": "/srv/isnad"}, {"name": "eu", "part_size_mib": 1}]))
    with pytest.raises(IsnadError) as caught:
        load_settings()
    message = str(caught.value)
    assert "storage.targets[1].url (ISNAD_STORAGE__TARGETS): Field required" in message
    assert "storage.targets[1].part_size_mib (ISNAD_STORAGE__TARGETS): Input should be " \
           "greater than or equal to 5, got 1" in message
    assert "\n" not in message


def test_a_rejected_text_value_is_not_echoed(monkeypatch):
    # It may be a secret: a proxy URL carries its password.
    monkeypatch.setenv("ISNAD_MEDIA__PROXY", "ftp://user:hunter2@127.0.0.1:21")
    with pytest.raises(IsnadError) as caught:
        load_settings()
    assert "media.proxy (ISNAD_MEDIA__PROXY)" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_settings_file_does_not_leak_into_later_settings(tmp_path):
    config = tmp_path / "isnad.toml"
    config.write_text('operator = "from-the-file"\n')
    assert load_settings(config).operator == "from-the-file"
    assert Settings().operator is None  # a later caller does not read the earlier file


def test_folders_that_cannot_be_created_are_named(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    monkeypatch.setenv("ISNAD_HOME", str(blocker / "home"))
    with pytest.raises(IsnadError, match=r"named by home \(ISNAD_HOME\): Not a directory"):
        load_settings().prepare_folders()
    monkeypatch.setenv("ISNAD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ISNAD_STORAGE__TARGETS", json.dumps([
        {"name": "eu", "url": "s3://bucket/prefix"},  # not a folder: left alone
        {"name": "copy", "url": f"file://{blocker}/copy"}]))
    with pytest.raises(IsnadError, match=r"named by storage\.targets\[1\]\.url "
                       r"\(ISNAD_STORAGE__TARGETS\): Not a directory"):
        load_settings().prepare_folders()
    monkeypatch.setenv("ISNAD_STORAGE__TARGETS", json.dumps([
        {"name": "copy", "url": f"file://{tmp_path}/copy"}]))
    load_settings().prepare_folders()
    assert (tmp_path / "home").is_dir() and (tmp_path / "copy").is_dir()
