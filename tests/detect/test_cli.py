"""`mcpwarden scan` and `mcpwarden honeytoken` as a user runs them: real processes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import AWS_KEY_ID, GITHUB_PAT

SCHEMA = Path(__file__).resolve().parents[1] / "auditor" / "data" / "sarif-schema-2.1.0.json"


def run(*args: str, cwd: Path, stdin: bytes | None = None, home: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MCPWARDEN_DETECT_KEY"}
    env["HOME"] = str(home or cwd)
    return subprocess.run(
        [sys.executable, "-m", "mcpwarden", *args], cwd=cwd, input=stdin, capture_output=True, timeout=120, env=env
    )


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(f'import os\n\nTOKEN = "{GITHUB_PAT}"\n', encoding="utf-8")
    (tmp_path / "src" / "clean.md").write_text("# nothing here\n", encoding="utf-8")
    (tmp_path / "conf.json").write_text(json.dumps({"aws": {"id": AWS_KEY_ID}}), encoding="utf-8")
    (tmp_path / "image.bin").write_bytes(b"\x00\x01" + GITHUB_PAT.encode())
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(f"token={GITHUB_PAT}\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "src" / "app.py")
    return tmp_path


def test_scan_table_exit_1_and_no_secret_in_output(tree: Path) -> None:
    proc = run("scan", ".", cwd=tree)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.decode()
    assert "src/app.py:3:10" in out and "github-pat-classic" in out and "conf.json:1" in out
    assert GITHUB_PAT not in out and AWS_KEY_ID not in out and GITHUB_PAT not in proc.stderr.decode()
    assert ".git" not in out and "image.bin" not in out and "link.py" not in out
    assert b"skipped 1 binary file" in proc.stderr


def test_scan_clean_exit_0(tree: Path) -> None:
    proc = run("scan", "src/clean.md", cwd=tree)
    assert proc.returncode == 0 and b"No secrets" in proc.stdout


def test_scan_missing_path_exit_2(tree: Path) -> None:
    proc = run("scan", "nope.txt", cwd=tree)
    assert proc.returncode == 2 and b"no such file" in proc.stderr


def test_scan_unwritable_report_or_baseline_exit_2(tree: Path) -> None:
    for flag in ("-o", "--write-baseline"):
        proc = run("scan", flag, str(tree / "no-such-dir" / "out.json"), "src", cwd=tree)
        assert proc.returncode == 2, (flag, proc.stderr)
        assert b"cannot write" in proc.stderr and b"Traceback" not in proc.stderr


def test_scan_reads_utf16_text_and_names_a_fifo(tree: Path) -> None:
    """A UTF-16 file with a byte-order mark (Windows tools write .env files so) is text, not
    binary; a path that exists but is neither a file nor a directory is not "missing"."""
    (tree / "win.env").write_bytes(f"TOKEN={GITHUB_PAT}\r\n".encode("utf-16"))
    proc = run("scan", "--format", "json", "win.env", cwd=tree)
    assert proc.returncode == 1, proc.stderr
    found = json.loads(proc.stdout)["findings"]
    assert [(f["rule"], f["line"]) for f in found] == [("github-pat-classic", 1)]
    os.mkfifo(tree / "pipe")
    proc = run("scan", "pipe", cwd=tree)
    assert proc.returncode == 2 and b"not a regular file or directory" in proc.stderr


def test_scan_binary_opt_in(tree: Path) -> None:
    proc = run("scan", "--format", "json", "--binary", "image.bin", cwd=tree)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["findings"][0]["rule"] == "github-pat-classic"


def test_scan_stdin_json_format(tree: Path) -> None:
    proc = run("scan", "--format", "json", "-", cwd=tree, stdin=f"line one\nkey: {AWS_KEY_ID}\n".encode())
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    (finding,) = doc["findings"]
    assert (finding["file"], finding["line"], finding["column"], finding["rule"]) == ("-", 2, 6, "aws-access-key-id")
    assert doc["summary"]["total"] == 1 and AWS_KEY_ID not in proc.stdout.decode()


def test_scan_sarif_is_valid_for_code_scanning(tree: Path) -> None:
    proc = run("scan", "--format", "sarif", "--output", "out.sarif", ".", cwd=tree)
    assert proc.returncode == 1
    doc = json.loads((tree / "out.sarif").read_text())
    run_ = doc["runs"][0]
    assert doc["version"] == "2.1.0" and run_["tool"]["driver"]["name"] == "mcpwarden"
    rules = {r["id"]: r for r in run_["tool"]["driver"]["rules"]}
    assert "github-pat-classic" in rules and "security-severity" in rules["github-pat-classic"]["properties"]
    result = next(r for r in run_["results"] if r["ruleId"] == "github-pat-classic")
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "src/app.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"]["startLine"] == 3 and location["region"]["startColumn"] == 10
    assert run_["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "github-pat-classic"
    assert len(result["partialFingerprints"]["mcpwardenSecret/v1"]) == 32
    assert GITHUB_PAT not in json.dumps(doc)
    if SCHEMA.exists():
        jsonschema = pytest.importorskip("jsonschema")
        jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def test_scan_sarif_uri_is_percent_encoded(tree: Path) -> None:
    (tree / "my notes #1.txt").write_text(f"TOKEN={GITHUB_PAT}\n", encoding="utf-8")
    proc = run("scan", "--format", "sarif", "my notes #1.txt", cwd=tree)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)["runs"][0]["results"][0]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "my%20notes%20%231.txt", "uriBaseId": "%SRCROOT%"}


def test_baseline_round_trip(tree: Path) -> None:
    proc = run("scan", "--write-baseline", "baseline.json", ".", cwd=tree)
    assert proc.returncode == 0, proc.stderr
    baseline = json.loads((tree / "baseline.json").read_text())
    assert baseline["version"] == 1 and len(baseline["findings"]) >= 2
    assert GITHUB_PAT not in json.dumps(baseline)
    key_file = tree / ".config" / "mcpwarden" / "detect.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    proc = run("scan", "--baseline", "baseline.json", ".", cwd=tree)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    (tree / "new.env").write_text("GITHUB_TOKEN=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\n")
    proc = run("scan", "--baseline", "baseline.json", "--format", "json", ".", cwd=tree)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert [f["file"] for f in doc["findings"]] == ["./new.env"] or [f["file"] for f in doc["findings"]] == ["new.env"]
    assert doc["summary"]["suppressed_by_baseline"] >= 2


def test_baseline_under_another_key_is_an_error(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert run("scan", "--write-baseline", "baseline.json", ".", cwd=tree).returncode == 0
    other_home = tmp_path_factory.mktemp("otherhome")
    proc = run("scan", "--baseline", "baseline.json", "--key-file", str(other_home / "k"), ".", cwd=tree)
    assert proc.returncode == 10 and b"does not exist" in proc.stderr


def test_extra_rule_file_and_bad_rule_file(tree: Path) -> None:
    (tree / "mine.toml").write_text(
        '[[rule]]\nid = "acme-key"\ndescription = "ACME key"\nfamily = "saas"\nseverity = "high"\n'
        "keywords = [\"acme_\"]\nregex = '''\\b(acme_[a-z0-9]{20})\\b'''\n"
        '[rule.examples]\nmatch = ["acme_q8w7e6r5t4y3u2i1o9p8"]\n'
    )
    (tree / "data.txt").write_text("k = acme_z8x7c6v5b4n3m2l1k9j8\n")
    proc = run("scan", "--no-builtin", "--rules", "mine.toml", "--format", "json", "data.txt", cwd=tree)
    assert proc.returncode == 1 and json.loads(proc.stdout)["findings"][0]["rule"] == "acme-key"
    (tree / "bad.toml").write_text('[[rule]]\nid = "bad-one"\n')
    proc = run("scan", "--rules", "bad.toml", "data.txt", cwd=tree)
    assert proc.returncode == 10 and b"'bad-one'" in proc.stderr


def test_honeytoken_new_list_and_detection(tmp_path: Path) -> None:
    proc = run("honeytoken", "new", "--kind", "github", "--name", "gh-canary", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    value = proc.stdout.decode().strip()
    assert value.startswith("ghp_") and len(value) == 40
    store = tmp_path / ".config" / "mcpwarden" / "honeytokens.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    listing = run("honeytoken", "list", cwd=tmp_path).stdout.decode()
    assert "gh-canary\tgithub" in listing and value not in listing
    assert value in run("honeytoken", "list", "--show", cwd=tmp_path).stdout.decode()
    assert run("honeytoken", "new", "--kind", "github", "--name", "gh-canary", cwd=tmp_path).returncode == 10
    proc = run("scan", "--format", "json", "-", cwd=tmp_path, stdin=f"leaked {value}\n".encode())
    finding = json.loads(proc.stdout)["findings"][0]
    assert (finding["tier"], finding["severity"], finding["rule"]) == ("honeytoken", "critical", "honeytoken-github")
    assert run("honeytoken", "remove", "gh-canary", cwd=tmp_path).returncode == 0
    assert run("honeytoken", "remove", "gh-canary", cwd=tmp_path).returncode == 10


def test_honeytoken_add_reads_value_from_stdin(tmp_path: Path) -> None:
    proc = run("honeytoken", "add", "--name", "planted", cwd=tmp_path, stdin=b"canary-7f3a9c2e1b\n")
    assert proc.returncode == 0 and b"canary-7f3a9c2e1b" not in proc.stdout + proc.stderr
    proc = run("scan", "--no-builtin", "-", cwd=tmp_path, stdin=b"x canary-7f3a9c2e1b y")
    assert proc.returncode == 1 and b"honeytoken" in proc.stdout
