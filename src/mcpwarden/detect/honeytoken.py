"""Honeytokens: canary values that must never appear in any message.

A honeytoken is declared (a value the user planted) or minted by
``mcpwarden honeytoken new --kind KIND``, which makes a value in the real format of that
kind (so an attacker takes it for a credential) and records it in the store file. The
engine matches honeytokens exactly, also inside base64/hex/URL/JSON-escaped text; any
appearance is a ``critical`` finding of tier ``honeytoken``.

The store is a JSON file ``{"version": 1, "tokens": [{"name", "kind", "value", "created"}]}``
written with mode 0600; it holds the canary values themselves (they are bait, not secrets
that grant access), and the CLI never prints a value unless asked with ``--show``.
"""

from __future__ import annotations

import os
import secrets
import string
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mcpwarden.detect.validators import base62_crc32
from mcpwarden.errors import DetectError

MIN_LENGTH = 8
_ALNUM = string.ascii_letters + string.digits
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True, slots=True)
class HoneyToken:
    name: str
    value: str
    kind: str = "custom"
    created: str = ""

    def __repr__(self) -> str:
        return f"<HoneyToken {self.name} kind={self.kind}>"

    def check(self) -> None:
        if len(self.value) < MIN_LENGTH:
            raise DetectError(f"honeytoken {self.name!r}: value must be at least {MIN_LENGTH} characters")
        if not self.name:
            raise DetectError("a honeytoken needs a name")


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _aws() -> str:
    key_id = "AKIA" + _rand(_BASE32, 16)
    return key_id


def _github() -> str:
    body = _rand(_ALNUM, 30)
    return "ghp_" + body + base62_crc32(body)


def _npm() -> str:
    body = _rand(_ALNUM, 30)
    return "npm_" + body + base62_crc32(body)


def _slack() -> str:
    return f"xoxb-{_rand(string.digits, 12)}-{_rand(string.digits, 13)}-{_rand(_ALNUM, 24)}"


def _stripe() -> str:
    return "sk_live_" + _rand(_ALNUM, 24)


def _openai() -> str:
    return "sk-proj-" + _rand(_ALNUM + "-_", 74) + "T3BlbkFJ" + _rand(_ALNUM + "-_", 74)


def _anthropic() -> str:
    return "sk-ant-api03-" + _rand(_ALNUM + "-_", 93) + "AA"


def _password() -> str:
    return _rand(_ALNUM + "!#%+-=_", 20)


MINTERS: dict[str, Callable[[], str]] = {
    "aws": _aws,
    "github": _github,
    "npm": _npm,
    "slack": _slack,
    "stripe": _stripe,
    "openai": _openai,
    "anthropic": _anthropic,
    "password": _password,
}
"""Kinds ``honeytoken new --kind`` can mint."""


def mint(kind: str, name: str | None = None) -> HoneyToken:
    if kind not in MINTERS:
        raise DetectError(f"unknown honeytoken kind {kind!r}; known: {', '.join(MINTERS)}")
    value = MINTERS[kind]()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return HoneyToken(name=name or f"{kind}-{secrets.token_hex(3)}", value=value, kind=kind, created=stamp)


def load_store(path: str | Path) -> list[HoneyToken]:
    """The honeytokens recorded in a store file; a missing file holds none."""
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DetectError(f"{path}: cannot read honeytoken store: {exc.strerror or exc}") from None
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DetectError(f"{path}: honeytoken store is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
        raise DetectError(f"{path}: honeytoken store must be an object with a 'tokens' list")
    tokens = []
    for i, item in enumerate(data["tokens"]):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("value"), str)
            or not isinstance(item.get("name"), str)
        ):
            raise DetectError(f"{path}: tokens[{i}] needs string 'name' and 'value'")
        token = HoneyToken(item["name"], item["value"], str(item.get("kind", "custom")), str(item.get("created", "")))
        token.check()
        tokens.append(token)
    return tokens


def save_store(path: str | Path, tokens: list[HoneyToken]) -> None:
    """Write the store atomically with mode 0600."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = orjson.dumps(
        {
            "version": 1,
            "tokens": [{"name": t.name, "kind": t.kind, "value": t.value, "created": t.created} for t in tokens],
        },
        option=orjson.OPT_INDENT_2,
    )
    fd, tmp = tempfile.mkstemp(prefix=".honeytokens.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(body + b"\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def add_to_store(path: str | Path, token: HoneyToken) -> None:
    token.check()
    tokens = load_store(path)
    if any(t.name == token.name for t in tokens):
        raise DetectError(f"{path}: a honeytoken named {token.name!r} already exists")
    tokens.append(token)
    save_store(path, tokens)
