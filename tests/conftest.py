"""Shared fixtures. Area-specific fixtures live in each test folder's conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The detection engine's start-up cache goes to a directory of this test session (shared
    by every test and every gateway it starts, so only the first load compiles), never to
    the real ``~/.cache``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MCPWARDEN_CACHE_DIR", str(tmp_path_factory.mktemp("engine-cache")))
        yield
