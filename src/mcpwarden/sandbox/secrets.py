"""Secret sources: ``env:VAR``, ``file:PATH``, ``keyring:service/name``, ``vault:path#key``.

Values are returned to the launcher, which puts them in the server's environment (never in
argv). Error messages name the secret and its source, never the value. ``keyring`` and
``hvac`` are optional imports (extras ``mcpwarden[keyring]`` and ``mcpwarden[vault]``).
Vault is reached with the standard ``VAULT_ADDR`` and ``VAULT_TOKEN`` variables; a KV v2 path
is written with its ``data/`` segment (``vault:secret/data/app#api_key``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mcpwarden.errors import SecretSourceError

MAX_SECRET_FILE_BYTES = 64 * 1024
VAULT_TIMEOUT = 10.0


def resolve_secrets(
    server: str, secrets: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """NAME -> value for every declared secret; raises SecretSourceError on the first missing one."""
    environ = os.environ if environ is None else environ
    return {name: resolve_secret(server, name, ref, environ) for name, ref in secrets.items()}


def resolve_secret(server: str, name: str, ref: str, environ: Mapping[str, str]) -> str:
    where = f"server {server!r}: secret {name} ({ref.split(':', 1)[0]}:"
    scheme, _, rest = ref.partition(":")
    if scheme == "env":
        value = environ.get(rest)
        if not value:
            raise SecretSourceError(f"{where}{rest}): the variable {rest} is not set in the gateway's environment")
        return value
    if scheme == "file":
        return _from_file(where, rest)
    if scheme == "keyring":
        return _from_keyring(where, rest)
    if scheme == "vault":
        return _from_vault(where, rest, environ)
    raise SecretSourceError(f"server {server!r}: secret {name}: unknown source {scheme!r}")


def _from_file(where: str, path_text: str) -> str:
    path = Path(os.path.expanduser(path_text))
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise SecretSourceError(f"{where}{path}): cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise SecretSourceError(f"{where}{path}): the file is larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        value = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise SecretSourceError(f"{where}{path}): the file is not UTF-8") from None
    if not value:
        raise SecretSourceError(f"{where}{path}): the file is empty")
    return value


def _from_keyring(where: str, rest: str) -> str:
    service, _, username = rest.partition("/")
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise SecretSourceError(
            f"{where}{rest}): the keyring package is not installed; pip install 'mcpwarden[keyring]'"
        ) from None
    try:
        value = keyring.get_password(service, username)
    except keyring.errors.KeyringError as exc:
        raise SecretSourceError(f"{where}{rest}): keyring error: {type(exc).__name__}") from None
    if not value:
        raise SecretSourceError(f"{where}{rest}): no such entry in the OS keyring")
    return value


def _from_vault(where: str, rest: str, environ: Mapping[str, str]) -> str:
    path, _, key = rest.partition("#")
    try:
        import hvac
        import hvac.exceptions
        import requests
    except ImportError:
        raise SecretSourceError(
            f"{where}{path}): the hvac package is not installed; pip install 'mcpwarden[vault]'"
        ) from None
    address, token = environ.get("VAULT_ADDR"), environ.get("VAULT_TOKEN")
    if not address or not token:
        raise SecretSourceError(f"{where}{path}): set VAULT_ADDR and VAULT_TOKEN in the gateway's environment")
    try:
        client = hvac.Client(url=address, token=token, timeout=VAULT_TIMEOUT)
        response: Any = client.read(path.strip("/"))
    except (hvac.exceptions.VaultError, requests.RequestException) as exc:
        raise SecretSourceError(f"{where}{path}): Vault refused or failed: {type(exc).__name__}") from None
    data = response.get("data") if isinstance(response, dict) else None
    if isinstance(data, dict) and isinstance(data.get("data"), dict) and "metadata" in data:
        data = data["data"]  # KV version 2 wraps the secret once more
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise SecretSourceError(f"{where}{path}): no key {key!r} at that path")
    return value
