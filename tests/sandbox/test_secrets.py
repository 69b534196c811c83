"""Secret sources: env, file, keyring and Vault (a real hvac client against a loopback
server speaking Vault's KV API). Errors name the secret, never the value."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from mcpwarden.errors import SecretSourceError
from mcpwarden.sandbox.secrets import resolve_secrets

VALUE = "tok-1234567890-value"


def test_env_and_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(VALUE + "\n")
    got = resolve_secrets("s", {"A": "env:GW_A", "B": f"file:{secret_file}"}, {"GW_A": VALUE})
    assert got == {"A": VALUE, "B": VALUE}


@pytest.mark.parametrize(
    ("ref", "environ", "message"),
    [
        ("env:MISSING", {}, "the variable MISSING is not set"),
        ("file:/nonexistent/token", {}, "cannot read the file"),
        ("vault:secret/data/app#key", {}, "set VAULT_ADDR and VAULT_TOKEN"),
        ("smoke:signal", {}, "unknown source"),
    ],
)
def test_missing_secret_is_a_clear_error(ref: str, environ: dict[str, str], message: str) -> None:
    with pytest.raises(SecretSourceError) as excinfo:
        resolve_secrets("srv", {"API_TOKEN": ref}, environ)
    assert message in str(excinfo.value) and "API_TOKEN" in str(excinfo.value) and "srv" in str(excinfo.value)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("")
    with pytest.raises(SecretSourceError, match="empty"):
        resolve_secrets("s", {"A": f"file:{tmp_path / 'empty'}"}, {})


def test_keyring() -> None:
    keyring = pytest.importorskip("keyring", reason="the keyring extra is not installed")
    from keyring.backend import KeyringBackend

    class DictKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]
        store = {("svc", "user"): VALUE}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(DictKeyring())
    try:
        assert resolve_secrets("s", {"A": "keyring:svc/user"}, {}) == {"A": VALUE}
        with pytest.raises(SecretSourceError, match="no such entry") as excinfo:
            resolve_secrets("s", {"A": "keyring:svc/other"}, {})
        assert VALUE not in str(excinfo.value)
    finally:
        keyring.set_keyring(previous)


class _VaultHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("X-Vault-Token") != "root-token":
            self._reply(403, {"errors": ["permission denied"]})
        elif self.path == "/v1/secret/data/app":
            self._reply(200, {"data": {"data": {"api_key": VALUE}, "metadata": {"version": 1}}})
        elif self.path == "/v1/kv1/app":
            self._reply(200, {"data": {"api_key": VALUE}})
        else:
            self._reply(404, {"errors": []})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def vault_addr() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _VaultHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_vault_kv2_and_kv1(vault_addr: str) -> None:
    pytest.importorskip("hvac", reason="the vault extra is not installed")
    environ = {"VAULT_ADDR": vault_addr, "VAULT_TOKEN": "root-token"}
    got = resolve_secrets("s", {"A": "vault:secret/data/app#api_key", "B": "vault:kv1/app#api_key"}, environ)
    assert got == {"A": VALUE, "B": VALUE}
    with pytest.raises(SecretSourceError, match="no key 'other'"):
        resolve_secrets("s", {"A": "vault:secret/data/app#other"}, environ)
    with pytest.raises(SecretSourceError, match="Vault refused"):
        resolve_secrets("s", {"A": "vault:secret/data/app#api_key"}, {**environ, "VAULT_TOKEN": "wrong"})
