"""AUD030: packages fetched at start-up without a pinned version; images without a digest."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mcpwarden.auditor.checks.args import docker_image, package_spec, split_npm, split_pypi
from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.model import Finding, Inventory, ServerEntry

_EXACT_NPM = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
_EXACT_PY = re.compile(r"^\d+(?:\.\d+)*(?:[-._+]?[0-9A-Za-z.]+)?$")


def unpinned(server: ServerEntry) -> tuple[int, str, str] | None:
    """(arg index, reason, package) if the server fetches something unpinned."""
    spec = package_spec(server)
    if spec:
        ecosystem, text, index = spec
        if text.startswith((".", "/", "file:", "git+", "http:", "https:")):
            return None
        if ecosystem == "npm":
            name, version = split_npm(text)
            if version is None:
                why = "without a version"
            elif version in ("latest", "next", "beta", "canary") or not _EXACT_NPM.match(version):
                why = f"with the moving version '{version}'"
            else:
                return None
            auto = " and installs it without asking (-y)" if any(a in ("-y", "--yes") for a in server.args) else ""
            return index, f"runs npm package {name} {why}{auto}", name
        name, op, version = split_pypi(text)
        if op in ("==", "@") and version and _EXACT_PY.match(version) and version != "latest":
            return None
        reason = f"with the range '{op}{version}'" if op else "without a version"
        return index, f"runs PyPI package {name} {reason}", name
    image = docker_image(server)
    if image and "@sha256:" not in image[0]:
        text, index = image
        tag = text.rsplit(":", 1)[1] if ":" in text.rsplit("/", 1)[-1] else "latest"
        return index, f"runs image {text} by tag '{tag}' without a digest", text.rsplit(":", 1)[0]
    return None


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    for server in inventory.servers:
        found = unpinned(server)
        if found:
            index, why, package = found
            yield ctx.finding(
                "AUD030", server.file, server.arg_key(index), f"server '{server.name}' {why}", server, detail=package
            )
