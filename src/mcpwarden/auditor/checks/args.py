"""Reading a server's command line: flag values, package specs, path-like arguments."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath, PureWindowsPath

from mcpwarden.auditor.model import ServerEntry


def basename(command: str | None) -> str:
    if not command:
        return ""
    name = PureWindowsPath(command).name if "\\" in command else PurePosixPath(command).name
    return name.lower().removesuffix(".exe").removesuffix(".cmd")


def arg_values(args: list[str]) -> Iterator[tuple[int, str | None, str]]:
    """(index, flag name or None, value): ``--root=/x`` gives ('--root', '/x'); a bare arg gives (None, arg)."""
    for i, arg in enumerate(args):
        if arg.startswith("-") and "=" in arg:
            flag, value = arg.split("=", 1)
            yield i, flag, value
        else:
            prev = args[i - 1] if i > 0 else ""
            flag = prev if prev.startswith("--") and "=" not in prev else None
            yield i, flag, arg


_RUNNERS = {"npx": "npm", "bunx": "npm", "pnpx": "npm", "uvx": "pypi", "pipx": "pypi"}
_VALUE_FLAGS_NPX = {"-p", "--package", "--registry", "--cache", "--userconfig", "-c", "--call"}
_VALUE_FLAGS_UVX = {
    "--from",
    "--with",
    "--python",
    "-p",
    "--index",
    "--index-url",
    "--extra-index-url",
    "--with-requirements",
}


def package_spec(server: ServerEntry) -> tuple[str, str, int] | None:
    """(ecosystem, spec as written, arg index) of the package a runner fetches, if any."""
    base = basename(server.command)
    args = server.args
    start = 0
    if base in ("pnpm", "yarn", "npm") and args[:1] in (["dlx"], ["exec"]):
        base, start = "npx", 1
    if base == "pipx" and args[:1] == ["run"]:
        start = 1
    if base not in _RUNNERS:
        return None
    flags = _VALUE_FLAGS_NPX if _RUNNERS[base] == "npm" else _VALUE_FLAGS_UVX
    i = start
    while i < len(args):
        arg = args[i]
        if arg in ("--package", "-p", "--from") and i + 1 < len(args):
            return _RUNNERS[base], args[i + 1], i + 1
        if arg.startswith(("--package=", "--from=")):
            return _RUNNERS[base], arg.split("=", 1)[1], i
        if arg in flags:
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return _RUNNERS[base], arg, i
    return None


def split_npm(spec: str) -> tuple[str, str | None]:
    """('@scope/name', '1.2.3') from '@scope/name@1.2.3'; version None when absent."""
    at = spec.find("@", 1) if spec.startswith("@") else spec.find("@")
    if at <= 0:
        return spec, None
    return spec[:at], spec[at + 1 :]


_PY_VERSION = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:(?P<op>==|@|>=|~=|<=|!=|>|<)\s*(?P<ver>.+))?$"
)


def split_pypi(spec: str) -> tuple[str, str | None, str | None]:
    """(name, operator, version) of a PyPI spec such as 'pkg==1.2' or 'pkg@1.2'."""
    match = _PY_VERSION.match(spec.strip())
    if not match:
        return spec, None, None
    return match.group("name"), match.group("op"), match.group("ver")


_DOCKER_VALUE_FLAGS = {
    "-e",
    "--env",
    "-v",
    "--volume",
    "--name",
    "-p",
    "--publish",
    "--network",
    "--net",
    "--mount",
    "-w",
    "--workdir",
    "-u",
    "--user",
    "--env-file",
    "-l",
    "--label",
    "--entrypoint",
    "--platform",
    "--cpus",
    "-m",
    "--memory",
    "--add-host",
    "--cap-add",
    "--cap-drop",
    "--security-opt",
    "--tmpfs",
    "--device",
    "--pull",
    "--hostname",
    "-h",
    "--ulimit",
    "--pid",
    "--ipc",
    "--runtime",
    "--gpus",
    "--dns",
    "--log-driver",
}


def docker_image(server: ServerEntry) -> tuple[str, int] | None:
    if basename(server.command) not in ("docker", "podman", "nerdctl"):
        return None
    args = server.args
    if "run" not in args[:3]:
        return None
    i = args.index("run") + 1
    while i < len(args):
        arg = args[i]
        if arg in _DOCKER_VALUE_FLAGS:
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            return arg, i
    return None


def docker_mounts(server: ServerEntry) -> Iterator[tuple[int, str]]:
    """(arg index, host path) of every bind mount of a docker-run server."""
    args = server.args
    for i, arg in enumerate(args):
        value = None
        if arg in ("-v", "--volume") and i + 1 < len(args):
            value = args[i + 1].split(":", 1)[0] if not re.match(r"^[A-Za-z]:\\", args[i + 1]) else args[i + 1][:3]
            yield i + 1, value
        elif arg.startswith(("--volume=", "-v=")):
            yield i, arg.split("=", 1)[1].split(":", 1)[0]
        elif arg == "--mount" and i + 1 < len(args):
            for part in args[i + 1].split(","):
                if part.startswith(("src=", "source=")):
                    yield i + 1, part.split("=", 1)[1]
