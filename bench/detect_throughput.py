"""Detection engine throughput on a deterministic, realistic mixed corpus.

    .venv/bin/python bench/detect_throughput.py [--mb 50] [--seed 1] [--gate auto|python|hyperscan]
                                                [--regex auto|re|re2|hybrid] [--profile]

Generates (in memory, seeded) source code, application and access logs, JSON API responses
and lockfiles (with base64 integrity hashes), and English prose, with a few synthetic
secrets and PII sprinkled in; scans every document with ``Engine.load()`` (all rule files
present at run time) and prints end-to-end MB/s on one core (bytes per CPU second of this
process, so other load on the machine does not skew it; wall time is printed too), plus the
CPU time to scan and redact 1 MB tool results of several shapes (scan_json + redact_json, as
the gateway does): text, structured rows with and without findings, non-ASCII prose, a
base64 image and a mix. Targets: >= 150 MB/s; <= 10 ms per shape.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import statistics
import string
import sys
import time
from collections.abc import Callable

from mcpwarden.detect import Engine, Redactor
from mcpwarden.detect.validators import base62_crc32

_WORDS_TEXT = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have "
    "an they you were her all she there would their we him been has when who will more no if out so said "
    "what up its about into than them can only other new some could time these two may then do first any "
    "my now such like our over man me even most made after also did many before must through back years "
    "where much your way well down should because each just those people how too little state good very "
    "make world still own see men work long get here between both life being under never day same another "
    "know while last might us great old year off come since against go came right used take three system "
    "data server request user session value error network service "
)
WORDS = tuple(_WORDS_TEXT.split())
_IDENTS_TEXT = (
    "config user_id request response handler client session token_count api_version result items payload "
    "buffer index offset length cache logger context options timeout retries status message headers body "
    "params query manager factory builder parser reader writer stream callback promise future channel "
    "worker queue task "
)
IDENTS = tuple(_IDENTS_TEXT.split())


def _secret_github(rng: random.Random) -> str:
    body = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(30))
    return "ghp_" + body + base62_crc32(body)


def _secret_aws(rng: random.Random) -> str:
    return "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


def _sprinkle(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return f'GITHUB_TOKEN="{_secret_github(rng)}"'
    if kind == 1:
        return f"aws_access_key_id = {_secret_aws(rng)}"
    if kind == 2:
        return f"contact: {rng.choice(IDENTS)}.{rng.choice(IDENTS)}@corp-mail.io"
    if kind == 3:
        return f"client_ip=81.2.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return f'password = "{"".join(rng.choice(string.ascii_letters + string.digits + "!#%") for _ in range(14))}"'


def _prose(rng: random.Random, n: int) -> str:
    out = []
    for _ in range(n):
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 22)))
        out.append(sentence.capitalize() + ".")
    return " ".join(out)


def _python(rng: random.Random, n: int) -> str:
    lines = []
    for _ in range(n):
        a, b, c = rng.choice(IDENTS), rng.choice(IDENTS), rng.choice(IDENTS)
        lines.append(
            rng.choice(
                [
                    f"def {a}_{b}(self, {c}: int = {rng.randrange(100)}) -> dict:",
                    f"    {a} = self.{b}.get({c!r}, None)",
                    f"    if {a} is None or len({b}) > {rng.randrange(1000)}:",
                    f'        raise ValueError(f"bad {a}: {{{b}}}")',
                    f"    return {{'{a}': {b}, '{c}': {rng.random():.4f}}}",
                    f"import {a}.{b} as {c}",
                    f"    # TODO: refactor {a} handling of {b}",
                    f"    {a}_token = os.environ.get('{b.upper()}_TOKEN')",
                    f"    logger.debug('{a} %s took %.2f ms', {b}, {rng.random() * 100:.2f})",
                ]
            )
        )
    return "\n".join(lines)


def _js(rng: random.Random, n: int) -> str:
    parts = []
    for _ in range(n):
        a, b = rng.choice(IDENTS), rng.choice(IDENTS)
        parts.append(
            rng.choice(
                [
                    f"const {a}=require('@scope/{b}');",
                    f"function {a}({b}){{return {b}&&{b}.{a}?{b}[{rng.randrange(9)}]:null}}",
                    f"export default {{ {a}: '{b}', key: '{a}-{b}', apiVersion: 'v{rng.randrange(5)}' }};",
                    f"if({a}.length>{rng.randrange(99)}){{{b}.push({a}.slice({rng.randrange(9)}))}}",
                    f"fetch(`/api/{a}/${{{b}}}`,{{headers:{{'Content-Type':'application/json'}}}});",
                ]
            )
        )
    return "\n".join(parts)


def _logs(rng: random.Random, n: int) -> str:
    lines = []
    for i in range(n):
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
        ts = f"2026-11-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{i % 60:02d}Z"
        lines.append(
            rng.choice(
                [
                    f'{ip} - - [{ts}] "GET /v1/{rng.choice(IDENTS)}?page={rng.randrange(50)} HTTP/1.1" 200 '
                    f"{rng.randrange(99999)}",
                    f"{ts} INFO  {rng.choice(IDENTS)}: request_id={hashlib.md5(str(i).encode()).hexdigest()} status=ok "
                    f"latency_ms={rng.randrange(900)}",
                    f"{ts} WARN  retrying {rng.choice(IDENTS)} after timeout (attempt {rng.randrange(5)})",
                    f"{ts} ERROR {rng.choice(IDENTS)} failed: connection reset by peer host=db-{rng.randrange(9)}",
                    f"{ts} DEBUG session {hashlib.sha1(str(i).encode()).hexdigest()} token refreshed for user "
                    f"{rng.randrange(10**6)}",
                ]
            )
        )
    return "\n".join(lines)


def _json_api(rng: random.Random, n: int) -> str:
    items = []
    for i in range(n):
        items.append(
            {
                "id": f"{hashlib.sha256(str(rng.random()).encode()).hexdigest()[:24]}",
                "uuid": "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}".format(  # noqa: UP032
                    rng.getrandbits(32),
                    rng.getrandbits(16),
                    rng.getrandbits(12),
                    rng.getrandbits(12),
                    rng.getrandbits(48),
                ),
                "name": " ".join(rng.choice(WORDS) for _ in range(3)),
                "created_at": f"2026-0{rng.randrange(1, 10)}-1{rng.randrange(10)}T10:00:00Z",
                "score": rng.random(),
                "tags": [rng.choice(IDENTS) for _ in range(3)],
                "owner": {"login": rng.choice(IDENTS) + str(i), "type": "User", "site_admin": False},
            }
        )
    return json.dumps({"total_count": n, "items": items}, indent=2)


def _lockfile(rng: random.Random, n: int) -> str:
    packages = {}
    for _ in range(n):
        name = f"{rng.choice(IDENTS)}-{rng.choice(IDENTS)}"
        digest = base64.b64encode(hashlib.sha512(name.encode() + rng.randbytes(8)).digest()).decode()
        packages[f"node_modules/{name}"] = {
            "version": f"{rng.randrange(9)}.{rng.randrange(20)}.{rng.randrange(30)}",
            "resolved": f"https://registry.npmjs.org/{name}/-/{name}-1.0.0.tgz",
            "integrity": f"sha512-{digest}",
        }
    return json.dumps({"lockfileVersion": 3, "packages": packages}, indent=2)


GENERATORS: list[tuple[Callable[[random.Random, int], str], int, float]] = [
    (_python, 400, 0.25),
    (_js, 300, 0.15),
    (_logs, 400, 0.25),
    (_json_api, 60, 0.15),
    (_lockfile, 80, 0.05),
    (_prose, 150, 0.15),
]


def corpus(megabytes: float, seed: int) -> list[str]:
    """Documents (each tens of KB) adding up to at least ``megabytes``."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    docs: list[str] = []
    total = 0
    weights = [w for _, _, w in GENERATORS]
    while total < target:
        gen, n, _ = rng.choices(GENERATORS, weights=weights)[0]
        doc = gen(rng, n)
        if rng.random() < 0.3:
            lines = doc.split("\n")
            lines.insert(rng.randrange(len(lines) + 1), _sprinkle(rng))
            doc = "\n".join(lines)
        docs.append(doc)
        total += len(doc)
    return docs


def tool_result(rng: random.Random, size: int) -> dict:
    parts = []
    while sum(len(p) for p in parts) < size:
        parts.append(rng.choice([_logs, _python, _prose])(rng, 50))
        if rng.random() < 0.1:
            parts.append(_sprinkle(rng))
    text = "\n".join(parts)[:size]
    return {"content": [{"type": "text", "text": text}], "isError": False}


_CJK = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 400))
_CYRILLIC = "".join(chr(c) for c in range(0x0430, 0x0450))
_SEPARATORS = ("", " ", "\uff1a", ": ")


def _intl_prose(rng: random.Random, size: int) -> str:
    """Mixed CJK, Cyrillic and English prose, dense with the keywords of generic rules."""
    cyrillic = ["".join(rng.choice(_CYRILLIC) for _ in range(rng.randint(2, 9))) for _ in range(200)]
    keywords = ("password", "token", "key", "secret", "api", "auth", "credential", "passwd", "pwd")
    out: list[str] = []
    total = 0
    while total < size:
        kind = rng.randrange(4)
        if kind == 0:
            piece = "".join(rng.choice(_CJK) for _ in range(rng.randint(8, 30))) + "。"
        elif kind == 1:
            piece = " ".join(rng.choice(cyrillic) for _ in range(rng.randint(5, 15))) + "."
        elif kind == 2:
            piece = (
                rng.choice(keywords)
                + rng.choice(_SEPARATORS)
                + "".join(rng.choice(_CJK) for _ in range(rng.randint(2, 8)))
            )
        else:
            piece = " ".join(rng.choice(WORDS + keywords) for _ in range(rng.randint(4, 12))) + "."
        out.append(piece)
        total += len(piece.encode())
    return " ".join(out)


def _rows(rng: random.Random, size: int, secrets: bool) -> list[dict]:
    """Row objects of short strings and numbers (a database query result), about ``size`` bytes as JSON."""
    rows: list[dict] = []
    total = 0
    i = 0
    while total < size:
        row = {
            "id": i,
            "sku": f"SKU-{rng.randrange(10**6):06d}",
            "name": rng.choice(WORDS),
            "status": rng.choice(["active", "pending", "closed"]),
            "qty": rng.randrange(1000),
            "price": round(rng.random() * 100, 2),
            "owner": rng.choice(IDENTS),
            "region": rng.choice(["eu-west-1", "us-east-2", "ap-south-1"]),
        }
        rows.append(row)
        total += len(json.dumps(row)) + 1
        i += 1
    if secrets:
        rows[len(rows) // 3]["note"] = f"rotated key {_secret_github(rng)}"
        rows[len(rows) // 2]["owner"] = "jane.roe@corp-mail.io"
        rows[len(rows) // 5]["note"] = "call +44 20 7946 0958 about the invoice"
        rows[2 * len(rows) // 3]["owner"] = "bob.smith@corp-mail.io"
    return rows


def _blob(rng: random.Random, size: int) -> str:
    return base64.b64encode(rng.randbytes(size * 3 // 4)).decode()


def result_shapes(seed: int, size: int = 1_000_000) -> dict[str, dict]:
    """The 1 MB tool-result shapes of the latency target, as a gateway sees them (parsed JSON)."""
    rng = random.Random(seed)
    rows = _rows(rng, size, secrets=False)
    rows_hit = _rows(rng, size, secrets=True)
    return {
        "a text (code/logs)": tool_result(rng, size),
        "b structured rows": {"content": [], "structuredContent": {"rows": rows}, "isError": False},
        "c structured rows + hits": {"content": [], "structuredContent": {"rows": rows_hit}, "isError": False},
        "d non-ASCII prose": {"content": [{"type": "text", "text": _intl_prose(rng, size)}], "isError": False},
        "e base64 blob (image)": {"content": [{"type": "image", "data": _blob(rng, size), "mimeType": "image/png"}]},
        "f mixed": {
            "content": [
                tool_result(rng, size // 4)["content"][0],
                {"type": "text", "text": _intl_prose(rng, size // 4)},
                {"type": "image", "data": _blob(rng, size // 4), "mimeType": "image/png"},
            ],
            "structuredContent": {"rows": _rows(rng, size // 4, secrets=True)},
            "isError": False,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gate", default="auto")
    parser.add_argument("--regex", default="auto")
    parser.add_argument("--profile", action="store_true", help="print the top functions by time")
    parser.add_argument("--repeat", type=int, default=11, help="runs per tool-result shape (the median is printed)")
    parser.add_argument("--shapes-only", action="store_true", help="skip the 50 MB corpus; time the tool results only")
    args = parser.parse_args(argv)

    if args.shapes_only:
        args.mb = 0.05
    t0 = time.perf_counter()
    docs = corpus(args.mb, args.seed)
    size = sum(len(d.encode()) for d in docs)
    print(f"corpus: {len(docs)} documents, {size / 1e6:.1f} MB, generated in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    engine = Engine.load(gate=args.gate, regex=args.regex)
    print(f"engine: {engine!r}, loaded in {(time.perf_counter() - t0) * 1000:.0f} ms")
    engine.scan_text(docs[0])

    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
    findings = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for doc in docs:
        findings += len(engine.scan_text(doc))
    wall, elapsed = time.perf_counter() - t0, time.process_time() - c0
    if args.profile:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    print(
        f"scan_text: {size / 1e6 / elapsed:.1f} MB/s per CPU second ({elapsed:.2f} s CPU, {wall:.2f} s wall, "
        f"{findings} findings)  target >= 150 MB/s"
    )

    print(f"1 MB tool results, scan_json + redact_json (median of {args.repeat} runs, ms CPU; target <= 10 ms):")
    redactor = Redactor()
    for name, result in result_shapes(args.seed + 1).items():
        times = []
        found: list = []
        for _ in range(args.repeat):
            t0 = time.process_time()
            found = engine.scan_json(result)
            if found:
                redactor.redact_json(result, found)
            times.append(time.process_time() - t0)
        size = len(json.dumps(result, ensure_ascii=False).encode())
        print(
            f"  {name:<28} {size / 1e6:4.2f} MB  median {statistics.median(times) * 1000:5.1f} ms  "
            f"min {min(times) * 1000:5.1f} ms  ({len(found)} findings)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
