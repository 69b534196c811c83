"""The start-up cache: same rules and findings as a clean load, rebuilt when damaged or stale."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import zlib
from pathlib import Path

import pytest

from mcpwarden.detect import Engine
from mcpwarden.detect import cache as cache_module
from mcpwarden.detect.cache import CACHE_ENV, Cache, default_dir
from mcpwarden.detect.sources import iter_files

from .conftest import EXAMPLE_RULES, GITHUB_PAT, needs_hyperscan
from .test_engine import mixed_corpus

EXTRA_RULE = """
[[rule]]
id = "acme-cache-test"
description = "ACME test token"
family = "test"
severity = "high"
keywords = ["acme_"]
regex = '''acme_[a-z0-9]{20}'''
examples.match = ["acme_0123456789abcdefghij"]
examples.no_match = ["acme_short"]
"""


def _rules(rules) -> list:
    """The rules as loaded, without where the extra file lay (each test has its own)."""
    return [dataclasses.replace(r, source=r.source if "extra.toml" not in r.source else "extra.toml") for r in rules]


def _summary(engine: Engine, text: str) -> list[tuple]:
    return sorted((f.rule_id, f.start, f.end, f.tier, f.fingerprint) for f in engine.scan_text(text))


@pytest.fixture(scope="module")
def text() -> str:
    return mixed_corpus(seed=4) + f"\ntoken {GITHUB_PAT}\nacme_0123456789abcdefghij\n"


@pytest.fixture(scope="module")
def clean(text: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[list, list]:
    rule_file = tmp_path_factory.mktemp("rules") / "extra.toml"
    rule_file.write_text(EXTRA_RULE)
    engine = Engine.load(extra=[EXAMPLE_RULES, rule_file], key=b"k" * 32, cache=False)
    return _rules(engine.rules), _summary(engine, text)


def _load(cache_dir: Path, tmp_path: Path) -> Engine:
    rule_file = tmp_path / "extra.toml"
    if not rule_file.exists():
        rule_file.write_text(EXTRA_RULE)
    return Engine.load(extra=[EXAMPLE_RULES, rule_file], key=b"k" * 32, cache=cache_dir)


@needs_hyperscan
def test_a_cached_load_equals_a_clean_one(tmp_path: Path, text: str, clean: tuple[list, list]) -> None:
    cache_dir = tmp_path / "cache"
    first = _load(cache_dir, tmp_path)
    entries = sorted(p.name.split("-")[0] for p in cache_dir.iterdir())
    assert entries == ["gate", "rules"]
    second = _load(cache_dir, tmp_path)
    assert _rules(second.rules) == clean[0] == _rules(first.rules)
    assert second._probed == first._probed
    assert _summary(second, text) == clean[1]
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in cache_dir.iterdir())


@needs_hyperscan
@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty"])
def test_a_damaged_entry_falls_back_to_a_clean_load(
    tmp_path: Path, text: str, clean: tuple[list, list], damage: str
) -> None:
    cache_dir = tmp_path / "cache"
    _load(cache_dir, tmp_path)
    for entry in cache_dir.iterdir():
        blob = bytearray(entry.read_bytes())
        if damage == "flip":
            blob[len(blob) // 2] ^= 0x01
        elif damage == "truncate":
            blob = blob[: len(blob) // 3]
        elif damage == "garbage":
            blob = bytearray(os.urandom(len(blob)))
        else:
            blob = bytearray()
        entry.write_bytes(bytes(blob))
    engine = _load(cache_dir, tmp_path)
    assert _rules(engine.rules) == clean[0]
    assert _summary(engine, text) == clean[1]
    again = _load(cache_dir, tmp_path)  # the entries were rewritten whole
    assert _rules(again.rules) == clean[0]
    assert _summary(again, text) == clean[1]


def test_a_valid_checksum_over_a_bad_table_is_a_miss(tmp_path: Path, clean: tuple[list, list]) -> None:
    cache_dir = tmp_path / "cache"
    _load(cache_dir, tmp_path)
    store = Cache(cache_dir)
    for entry in cache_dir.glob("rules-*"):
        store.put("rules", entry.name.split("-", 1)[1], b'{"fields": ["id"], "rules": [["only-one"]]}')
    assert _rules(_load(cache_dir, tmp_path).rules) == clean[0]


def test_a_changed_rule_file_is_not_served_from_the_cache(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    before = _load(cache_dir, tmp_path)
    (tmp_path / "extra.toml").write_text(EXTRA_RULE + EXTRA_RULE.replace("acme-cache-test", "acme-cache-test-two"))
    after = _load(cache_dir, tmp_path)
    assert len(after.rules) == len(before.rules) + 1
    assert "acme-cache-test-two" in {r.id for r in after.rules}


def test_a_directory_others_can_write_is_not_used(tmp_path: Path) -> None:
    cache_dir = tmp_path / "shared"
    cache_dir.mkdir()
    cache_dir.chmod(0o777)
    _load(cache_dir, tmp_path)
    assert list(cache_dir.iterdir()) == []


def test_a_symlinked_entry_is_not_followed(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    _load(cache_dir, tmp_path)
    for entry in cache_dir.glob("rules-*"):
        target = tmp_path / "elsewhere"
        target.write_bytes(entry.read_bytes())
        entry.unlink()
        entry.symlink_to(target)
    assert Cache(cache_dir).get("rules", next(cache_dir.glob("rules-*")).name.split("-", 1)[1]) is None


def test_cache_directory_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    assert default_dir() is None
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert default_dir() == tmp_path / "c"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_dir() == tmp_path / "xdg" / "mcpwarden"


@pytest.mark.parametrize("shape", ["inflates-past-the-limit", "bytes-after-the-stream"])
def test_an_entry_not_written_by_put_is_a_miss(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shape: str) -> None:
    store = Cache(tmp_path / "cache")
    store.put("rules", "k", b"x" * 4096)
    assert store.get("rules", "k") == b"x" * 4096
    if shape == "inflates-past-the-limit":
        # A few hundred bytes that would inflate to more than any entry holds: never inflated whole.
        monkeypatch.setattr(cache_module, "MAX_ENTRY_BYTES", 1024)
    else:
        packed = zlib.compress(b"x" * 4096, 1) + b"trailing"
        blob = cache_module.MAGIC + hashlib.sha256(packed).digest() + packed
        (tmp_path / "cache" / "rules-k").write_bytes(blob)
    assert store.get("rules", "k") is None
    assert not (tmp_path / "cache" / "rules-k").exists()  # discarded, to be written again


def test_a_scan_of_the_home_directory_skips_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    cache_dir = home / ".cache" / "mcpwarden"
    monkeypatch.setenv(CACHE_ENV, str(cache_dir))
    Engine.load(key=b"k" * 32, cache=True)
    assert any(cache_dir.iterdir())
    namesake = home / "project" / "mcpwarden"  # the same name elsewhere is the user's
    namesake.mkdir(parents=True)
    (namesake / "notes.txt").write_text("x")
    walked = {str(item[0].relative_to(home)) for item in iter_files([str(home)]) if isinstance(item, tuple)}
    assert walked == {"project/mcpwarden/notes.txt"}
