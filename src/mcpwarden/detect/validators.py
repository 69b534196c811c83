"""Validators: checks that turn a pattern hit into a certainty.

Each validator takes the secret text a rule captured and returns True when the value has the
structure the format guarantees (a checksum matches, a header decodes). A rule naming a
validator keeps a hit only if the validator passes, and the finding's tier becomes
``validated`` (``pii`` rules stay ``pii``). Validators never do I/O and never raise on any
input: malformed input simply fails.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable

import orjson

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_SET = frozenset(BASE62)
_GITHUB_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")


def base62_crc32(data: str) -> str:
    """CRC32 of ``data`` (ASCII) in base62, left-padded with '0' to 6 characters."""
    value = binascii.crc32(data.encode("ascii"))
    digits = ""
    while value:
        value, rem = divmod(value, 62)
        digits = BASE62[rem] + digits
    return digits.rjust(6, "0")


def _prefixed_checksum(secret: str, prefixes: tuple[str, ...]) -> bool:
    if not secret.startswith(prefixes) or len(secret) != 40 or not secret.isascii():
        return False
    body = secret[4:]
    if not all(c in _BASE62_SET for c in body):
        return False
    return base62_crc32(body[:30]) == body[30:]


def github_checksum(secret: str) -> bool:
    """GitHub token with checksum: ``ghp_|gho_|ghu_|ghs_|ghr_`` + 30 base62 characters of
    entropy + 6 base62 characters of CRC32 over those 30 (40 characters in all). Fine-grained
    ``github_pat_`` tokens carry no public checksum and always fail this validator."""
    return _prefixed_checksum(secret, _GITHUB_PREFIXES)


def npm_checksum(secret: str) -> bool:
    """npm access token: ``npm_`` + 30 base62 characters + 6 base62 characters of CRC32 over
    those 30 (same scheme as GitHub's)."""
    return _prefixed_checksum(secret, ("npm_",))


def luhn(secret: str) -> bool:
    """Payment card number: 12 to 19 digits once spaces and dashes are removed, passing the
    Luhn mod-10 check, not all one digit."""
    digits = secret.replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit() or not 12 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "BY": 28,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LC": 32,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SC": 31,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "ST": 25,
    "SV": 28,
    "TL": 23,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VA": 22,
    "VG": 24,
    "XK": 20,
}


def iban(secret: str) -> bool:
    """IBAN: spaces removed, a known country code with that country's length, and the ISO
    13616 mod-97 check equal to 1."""
    value = secret.replace(" ", "").upper()
    if not value.isascii() or not value.isalnum() or len(value) < 15:
        return False
    if _IBAN_LENGTHS.get(value[:2]) != len(value) or not value[2:4].isdigit():
        return False
    rearranged = value[4:] + value[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _b64url_decode(segment: str) -> bytes | None:
    if not segment or not re.fullmatch(r"[A-Za-z0-9_-]+", segment):
        return None
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None


def jwt(secret: str) -> bool:
    """JSON Web Token (JWS compact form): three dot-separated base64url segments; the first
    decodes to a JSON object with a string ``alg``; the second decodes to a JSON object; the
    signature segment is non-empty unless ``alg`` is ``none``."""
    parts = secret.split(".")
    if len(parts) != 3:
        return False
    header_raw, payload_raw = _b64url_decode(parts[0]), _b64url_decode(parts[1])
    if header_raw is None or payload_raw is None:
        return False
    try:
        header, payload = orjson.loads(header_raw), orjson.loads(payload_raw)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str) or not isinstance(payload, dict):
        return False
    return not (header["alg"].lower() != "none" and _b64url_decode(parts[2]) is None)


_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]{1,40})-----\s*((?:[A-Za-z0-9-]+:[^\n]*\n)*)\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1-----",
)


def pem(secret: str) -> bool:
    """PEM block: ``-----BEGIN <LABEL>-----``, optional ``Key: value`` headers, a base64 body
    that decodes to at least 32 bytes, and ``-----END <LABEL>-----`` with the same label.
    Escaped newlines (``\\n`` as two characters) are accepted as newlines."""
    text = secret.replace("\\r", "").replace("\\n", "\n").replace("\r", "")
    m = _PEM.search(text)
    if not m:
        return False
    body = "".join(m.group(3).split())
    if "OPENSSH" in m.group(1) and body.startswith("b3BlbnNzaC1rZXktdjE"):
        return len(body) >= 64
    try:
        decoded = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(decoded) >= 32


_BASE32_BODY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_AWS_ID_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA")


def aws_key_id(secret: str) -> bool:
    """AWS access key id: 20 characters, a documented unique-id prefix (AKIA long-term key,
    ASIA temporary key, ABIA, ACCA, AGPA, AIDA, AIPA, ANPA, ANVA, APKA, AROA, ASCA, or A3T
    followed by one alphanumeric), and the rest in the base32 alphabet (A-Z, 2-7)."""
    if len(secret) != 20 or not secret.isascii():
        return False
    if secret.startswith(_AWS_ID_PREFIXES) or (secret.startswith("A3T") and secret[3].isalnum()):
        rest = secret[4:]
    else:
        return False
    return all(c in _BASE32_BODY for c in rest)


def public_ip(secret: str) -> bool:
    """IP address (v4 or v6) that is globally routable: not private, loopback, link-local,
    multicast, reserved, unspecified or documentation ranges."""
    try:
        address = ipaddress.ip_address(secret.strip("[]"))
    except ValueError:
        return False
    return address.is_global and not address.is_multicast


_US_SSN = re.compile(r"(\d{3})-?(\d{2})-?(\d{4})")


def us_ssn(secret: str) -> bool:
    """US Social Security number: area not 000, 666 or 900-999, group not 00, serial not
    0000, and not a documented advertising number (078-05-1120, 219-09-9999)."""
    m = _US_SSN.fullmatch(secret)
    if not m:
        return False
    area, group, serial = m.groups()
    if area in ("000", "666") or area >= "900" or group == "00" or serial == "0000":
        return False
    return f"{area}{group}{serial}" not in ("078051120", "219099999", "123456789")


_FILE_TLDS = frozenset(
    [
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "webp",
        "ico",
        "bmp",
        "js",
        "mjs",
        "cjs",
        "ts",
        "tsx",
        "jsx",
        "py",
        "rb",
        "go",
        "rs",
        "java",
        "kt",
        "css",
        "scss",
        "map",
        "json",
        "yaml",
        "yml",
        "toml",
        "lock",
        "md",
        "txt",
        "html",
        "htm",
        "xml",
        "zip",
        "gz",
        "tar",
        "whl",
        "so",
        "dll",
        "exe",
        "bin",
    ]
)
_RESERVED_DOMAINS = ("example.com", "example.org", "example.net", "test", "invalid", "localhost", "local", "example")
_ROLE_LOCALS = frozenset({"git", "noreply", "no-reply", "donotreply", "do-not-reply", "mailer-daemon", "postmaster"})


def email(secret: str) -> bool:
    """E-mail address of a person: one '@', a dotted domain whose top-level label is
    alphabetic and not a file extension (``logo@2x.png``), not a reserved or example
    domain (RFC 2606/6761), and not a role or VCS address (``git@``, ``noreply@``)."""
    local, sep, domain = secret.rpartition("@")
    if not sep or not local or "@" in local or "." not in domain:
        return False
    domain = domain.lower().rstrip(".")
    tld = domain.rsplit(".", 1)[-1]
    if not tld.isalpha() or tld in _FILE_TLDS:
        return False
    if any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS):
        return False
    local_l = local.lower()
    return local_l not in _ROLE_LOCALS and not local_l.endswith(("+noreply", ".noreply")) and "noreply" not in domain


def phone(secret: str) -> bool:
    """Phone number: 8 to 15 digits once '+', spaces, dots, dashes and parentheses are
    removed; not all one digit and not an ascending or descending run."""
    digits = "".join(c for c in secret if c.isdigit())
    if not 8 <= len(digits) <= 15 or len(set(digits)) <= 2:
        return False
    return digits not in "01234567890123456789" and digits not in "98765432109876543210"


Validator = Callable[[str], bool]

VALIDATORS: dict[str, Validator] = {
    "github-checksum": github_checksum,
    "npm-checksum": npm_checksum,
    "luhn": luhn,
    "iban": iban,
    "jwt": jwt,
    "pem": pem,
    "aws-key-id": aws_key_id,
    "public-ip": public_ip,
    "us-ssn": us_ssn,
    "email": email,
    "phone": phone,
}
"""Validator name (as written in rule files) -> function."""
