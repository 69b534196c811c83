"""The clean environment of a sandboxed server and its per-server directories.

A sandboxed server gets only: a fixed PATH, locale and time zone, its own HOME, cache and
tmp, the egress proxy variables when it has network access, ``env.pass`` (copied from the
gateway's environment), ``env.set`` and its secrets. Nothing else of the gateway's
environment reaches it (no tokens, no SSH agent socket, no cloud credentials).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mcpwarden.errors import SandboxError
from mcpwarden.sandbox.options import EnvOptions

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
_LOCALE_VARS = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")


def default_state_dir() -> Path:
    explicit = os.environ.get("MCPWARDEN_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "mcpwarden"


@dataclass(frozen=True)
class ServerDirs:
    root: Path
    home: Path
    cache: Path
    tmp: Path

    @classmethod
    def create(cls, state_dir: Path, server: str) -> ServerDirs:
        root = state_dir / "sandbox" / server
        dirs = cls(root, root / "home", root / "cache", root / "tmp")
        for path in (dirs.home, dirs.cache, dirs.tmp):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            if path.is_symlink() or not path.is_dir():
                # Bound into the sandbox by path: a planted symlink would expose its target.
                raise SandboxError(f"{path} is not a plain directory; remove it and start again")
        return dirs


def build_environment(
    dirs: ServerDirs,
    options: EnvOptions | None,
    secrets: Mapping[str, str],
    proxy_port: int | None,
    tmp_inside: str,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    env: dict[str, str] = {"PATH": SANDBOX_PATH, "LANG": "C.UTF-8"}
    env.update({k: environ[k] for k in _LOCALE_VARS if k in environ})
    env.update({
        "HOME": str(dirs.home),
        "TMPDIR": tmp_inside,
        "XDG_CACHE_HOME": str(dirs.cache),
        "XDG_CONFIG_HOME": str(dirs.home / ".config"),
        "XDG_DATA_HOME": str(dirs.home / ".local" / "share"),
        "npm_config_cache": str(dirs.cache / "npm"),
        "npm_config_update_notifier": "false",
        "UV_CACHE_DIR": str(dirs.cache / "uv"),
        "PIP_CACHE_DIR": str(dirs.cache / "pip"),
    })
    if proxy_port is not None:
        proxy = f"http://127.0.0.1:{proxy_port}"
        for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
            env[var] = proxy
        env["npm_config_proxy"] = env["npm_config_https_proxy"] = proxy
        env["NODE_USE_ENV_PROXY"] = "1"  # Node >= 22.21/24.5 honours HTTP(S)_PROXY with this
        env["NO_PROXY"] = env["no_proxy"] = ""
    if options is not None:
        env.update({k: environ[k] for k in options.pass_ if k in environ})
        env.update(options.set)
    env.update(secrets)
    return env
