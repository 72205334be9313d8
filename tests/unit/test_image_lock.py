"""The Docker image installs exactly the locked, hash-checked dependency set, and panoramisk at one exact version.

The listener replaces panoramisk's protocol reading (``asterisk/ami_protocol.py`` builds on its internals), so a
new panoramisk release must be a deliberate change: pinned with ``==`` in pyproject.toml and in the lock.
Nothing here runs Docker or reaches an index; the files are parsed and cross-checked.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.unit.test_compose import dockerfile_instructions

ROOT = Path(__file__).resolve().parents[2]
LOCK_PATH = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
RUNTIME = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
BUILD = [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]
PINNED_EXACTLY = ["panoramisk"]


def lock_entries() -> dict[str, tuple[Version, list[str]]]:
    """name -> (pinned version, its sha256 hashes), from pip's requirements format with continuation lines."""
    joined = re.sub(r"\\\n\s*", " ", LOCK_PATH.read_text(encoding="utf-8"))
    entries: dict[str, tuple[Version, list[str]]] = {}
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)", line)
        assert match, f"requirements.lock: not an exact pin with hashes: {line[:120]!r}"
        entries[canonicalize_name(match[1])] = (Version(match[2]), re.findall(r"sha256:([0-9a-f]{64})", match[3]))
    return entries


LOCK = lock_entries()


def _pip_installs() -> list[str]:
    return [args for args in dockerfile_instructions("RUN") if "pip install" in args]


def test_the_image_installs_the_lock_with_hashes_then_the_project_without_resolving() -> None:
    installs = _pip_installs()
    assert any(re.search(r"pip install .*--require-hashes", args) and "-r requirements.lock" in args
               for args in installs), installs
    project = [args for args in installs if re.search(r"pip install\s+(\S+\s+)*\.(\s|$)", args)]
    assert project and all("--no-deps" in args and "--no-build-isolation" in args for args in project), project
    assert all("-r requirements.lock" in args or args in project for args in installs), \
        f"a pip install in the Dockerfile resolves outside the lock: {installs}"
    assert any("requirements.lock" in args for args in dockerfile_instructions("COPY")), "the lock is not copied in"
    assert "requirements.lock" not in (ROOT / ".dockerignore").read_text(encoding="utf-8").split()


@pytest.mark.parametrize("requirement", RUNTIME + BUILD, ids=str)
def test_every_dependency_is_locked_within_its_range(requirement: Requirement) -> None:
    name = canonicalize_name(requirement.name)
    assert name in LOCK, f"{requirement} is not in requirements.lock: run `make lock`"
    version, hashes = LOCK[name]
    assert requirement.specifier.contains(version, prereleases=True), \
        f"requirements.lock pins {name}=={version}, outside pyproject.toml's {requirement}: run `make lock`"
    assert hashes, name


@pytest.mark.parametrize("name", PINNED_EXACTLY)
def test_panoramisk_is_pinned_exactly(name: str) -> None:
    [requirement] = [r for r in RUNTIME if canonicalize_name(r.name) == name]
    [spec] = list(requirement.specifier)
    assert spec.operator == "==", f"pyproject.toml: {requirement} must be an exact pin (==)"
    assert LOCK[name][0] == Version(spec.version), f"requirements.lock pins {name}=={LOCK[name][0]}, not {spec}"
