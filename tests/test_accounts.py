"""Accounts through the real CLI: users with roles, argon2 password hashes, API tokens shown
once and stored hashed, revoked and disabled ones refused, daily quotas counted atomically."""

from __future__ import annotations

import hashlib
import sqlite3

from isnad.app import accounts
from isnad.config import load_settings


def _add(isnad, name: str, role: str, password: str = "correct horse battery"):
    return _stdin(isnad, password + "\n", "users", "add", name, "--role", role,
                  "--password-stdin")


def _stdin(isnad, text: str, *args: str):
    import subprocess

    from tests.conftest import Run

    proc = subprocess.run(isnad.command(*args), cwd=isnad.home, env=isnad.env, input=text,
                          capture_output=True, text=True, timeout=120)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def _db(isnad) -> sqlite3.Connection:
    return sqlite3.connect(isnad.home / "catalog.db")


def test_users_are_added_listed_and_disabled_with_argon2_hashes(isnad):
    run = _add(isnad, "amira", "investigator", "s3cret-passw0rd")
    assert run.code == 0, run.stderr
    assert _add(isnad, "amira", "viewer").code != 0  # names are unique
    bad = _add(isnad, "omar", "emperor")
    assert bad.code == 2 and "emperor" in bad.stderr
    short = _add(isnad, "omar", "viewer", "short")
    assert short.code != 0 and "at least 8 characters" in short.stderr

    listed = isnad("users", "list", "--json").json()
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [
        ("amira", "investigator", False)]
    stored = _db(isnad).execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$") and "s3cret-passw0rd" not in stored

    store = accounts.open_accounts(load_settings(None, home=isnad.home))
    assert accounts.check_password(store, "amira", "s3cret-passw0rd") is not None
    assert accounts.check_password(store, "amira", "wrong-password") is None
    assert accounts.check_password(store, "nobody", "s3cret-passw0rd") is None

    assert isnad("users", "disable", "amira").code == 0
    assert isnad("users", "list", "--json").json()[0]["disabled"] is True
    assert accounts.check_password(store, "amira", "s3cret-passw0rd") is None
    assert isnad("users", "disable", "nobody").code != 0


def test_a_token_is_shown_once_stored_hashed_limited_by_role_and_revocable(isnad):
    assert _add(isnad, "vera", "viewer").code == 0
    assert _add(isnad, "ivan", "investigator").code == 0
    # A viewer cannot be given a scope its role does not grant.
    refused = isnad("tokens", "create", "--user", "vera", "--scope", "submit")
    assert refused.code != 0 and "does not grant the scope 'submit'" in refused.stderr

    made = isnad("tokens", "create", "--user", "ivan", "--scope", "read", "--scope", "submit",
                 "--name", "laptop", "--quota", "3")
    assert made.code == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("isnad_") and len(secret) > 40
    row = _db(isnad).execute("SELECT id, secret_sha256, scopes FROM api_tokens").fetchone()
    assert row[1] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in " ".join(str(v) for v in row)
    listed = isnad("tokens", "list", "--json")
    assert secret not in listed.stdout and row[1] not in listed.stdout
    [token] = listed.json()
    assert (token["user"], token["name"], token["scopes"], token["daily_quota"],
            token["state"]) == ("ivan", "laptop", ["read", "submit"], 3, "active")

    store = accounts.open_accounts(load_settings(None, home=isnad.home))
    who = accounts.token_identity(store, secret)
    assert who is not None and who.scopes == {"read", "submit"} and who.user == "ivan"
    assert accounts.token_identity(store, secret + "x") is None
    # The quota of a day: 2 + 1 fit, one more does not, and a refusal counts nothing.
    assert accounts.take_quota(store, token["id"], 2)
    assert not accounts.take_quota(store, token["id"], 2)
    assert accounts.take_quota(store, token["id"], 1)
    assert not accounts.take_quota(store, token["id"], 1)

    assert isnad("tokens", "revoke", token["id"]).code == 0
    assert accounts.token_identity(store, secret) is None
    assert isnad("tokens", "list", "--json").json()[0]["state"] == "revoked"
    assert isnad("tokens", "revoke", "nosuchtoken").code != 0


def test_a_token_of_a_disabled_user_is_refused(isnad):
    assert _add(isnad, "ana", "admin").code == 0
    secret = isnad("tokens", "create", "--user", "ana", "--scope", "admin").stdout.strip()
    store = accounts.open_accounts(load_settings(None, home=isnad.home))
    assert accounts.token_identity(store, secret).scopes == {"admin"}
    assert isnad("users", "disable", "ana").code == 0
    assert accounts.token_identity(store, secret) is None


def test_a_daily_quota_is_counted_atomically_and_anew_each_day(catalog_url):
    from concurrent.futures import ThreadPoolExecutor

    from archiver.accounts import AccountStore
    from archiver.catalog import Catalog

    store = AccountStore(Catalog(catalog_url, upgrade=True))
    accounts.add_user(store, "nadia", "investigator", "a long enough password")
    token = accounts.create_token(store, "nadia", ["submit"], quota=3).record["id"]
    with ThreadPoolExecutor(8) as pool:  # 12 requests at once for the day's 3 captures
        granted = list(pool.map(lambda _: store.take_quota(token, "2026-12-01", 1), range(12)))
    assert granted.count(True) == 3
    assert not store.take_quota(token, "2026-12-01", 1)
    assert not store.take_quota(token, "2026-12-02", 4)  # more than a whole day's
    assert store.take_quota(token, "2026-12-02", 3)  # a new day, counted anew
    unlimited = accounts.create_token(store, "nadia", ["read"]).record["id"]
    assert all(store.take_quota(unlimited, "2026-12-01", 100) for _ in range(3))
