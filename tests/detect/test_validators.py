from __future__ import annotations

import pytest

from mcpwarden.detect import validators as v
from mcpwarden.detect.honeytoken import mint

from .conftest import AWS_KEY_ID, GITHUB_PAT, JWT, NPM_TOKEN


def test_github_checksum_accepts_valid_and_rejects_one_changed_character() -> None:
    assert v.github_checksum(GITHUB_PAT)
    assert not v.github_checksum(GITHUB_PAT[:-1] + ("Y" if GITHUB_PAT[-1] != "Y" else "Z"))
    assert not v.github_checksum("ghp_" + "a" * 36)
    assert not v.github_checksum("github_pat_11AAAAAAA0" + "a" * 72)
    for _ in range(20):
        assert v.github_checksum(mint("github").value)


def test_npm_checksum() -> None:
    assert v.npm_checksum(NPM_TOKEN)
    assert not v.npm_checksum(NPM_TOKEN.replace("npm_", "ghp_"))
    assert not v.npm_checksum(NPM_TOKEN[:-2] + "00")


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("4111 1111 1111 1111", True),
        ("4012-8888-8888-1881", True),
        ("4111111111111112", False),
        ("0000000000000000", False),
        ("12345", False),
        ("4111x1111", False),
    ],
)
def test_luhn(number: str, ok: bool) -> None:
    assert v.luhn(number) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("DE89 3704 0044 0532 0130 00", True),
        ("GB29NWBK60161331926819", True),
        ("DE89370400440532013001", False),
        ("XX89370400440532013000", False),
        ("DE8937040044053201300", False),
    ],
)
def test_iban(value: str, ok: bool) -> None:
    assert v.iban(value) is ok


def test_jwt() -> None:
    assert v.jwt(JWT)
    assert not v.jwt("eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiIxIn0")  # two segments
    assert not v.jwt("eyJmb28iOiAiYmFyIn0.eyJzdWIiOiIxIn0.c2ln")  # header without alg
    assert not v.jwt("abc.def.ghi")
    assert not v.jwt("eyJhbGciOiAiSFMyNTYifQ.!!!.sig")


def test_pem() -> None:
    body = "MC4CAQAwBQYDK2VwBCIEIHm4qS1mQ1ryhbxUr7h1a9cS0eI9LgJ8yC2Vw1Dk8Qg4"
    assert v.pem(f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----")
    assert v.pem(f"-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----")  # JSON-escaped newlines
    assert not v.pem(f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----")
    assert not v.pem("-----BEGIN PRIVATE KEY-----\n!!!not base64!!!\n-----END PRIVATE KEY-----")
    assert not v.pem("-----BEGIN PRIVATE KEY-----\nYWJj\n-----END PRIVATE KEY-----")  # too short


def test_aws_key_id() -> None:
    assert v.aws_key_id(AWS_KEY_ID)
    assert v.aws_key_id("ASIAQ3EGRWZ5T4LMNBVC")
    assert not v.aws_key_id("AKIAQ3EGRWZ5T4LMNBV0")  # 0 is not base32
    assert not v.aws_key_id("AXXAQ3EGRWZ5T4LMNBVC")
    assert not v.aws_key_id("AKIAQ3EG")


def test_pii_validators() -> None:
    assert v.email("jane.roe@acme-corp.io")
    assert not v.email("git@github.com")
    assert not v.email("logo@2x.png")
    assert not v.email("someone@example.com")
    assert v.public_ip("81.2.69.160")
    assert not v.public_ip("10.1.2.3") and not v.public_ip("127.0.0.1") and not v.public_ip("203.0.113.9")
    assert v.us_ssn("536-22-8471")
    assert not v.us_ssn("666-22-8471") and not v.us_ssn("900-22-8471") and not v.us_ssn("536-00-8471")
    assert v.phone("+14155550123")
    assert not v.phone("12345678") and not v.phone("11111111111")


@pytest.mark.parametrize("name", sorted(v.VALIDATORS))
def test_every_validator_survives_garbage(name: str) -> None:
    fn = v.VALIDATORS[name]
    for junk in ["", "\x00" * 50, "é" * 40, "-----BEGIN", "a.b.c", "%%%", "\ud800abc", "9" * 5000]:
        assert fn(junk) in (True, False)
    assert fn.__doc__, f"validator {name} documents its contract"
