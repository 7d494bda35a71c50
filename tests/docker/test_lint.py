"""The static checks of `make lint` (scripts/lint-docker.sh), as tests: hadolint,
`docker-compose config`, `haproxy -c`, actionlint and the workflow schema.

No Docker engine is needed; every tool is a pinned wheel in the venv or a
Debian package that scripts/system-deps.sh installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .dockerfile import APPS, DOCKER_DIR, REPO_ROOT

VENV_BIN = Path(sys.executable).parent
WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))


def tool(name: str) -> str:
    path = shutil.which(name, path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin")
    if path is None:
        pytest.fail(f"{name} is not installed; `make bootstrap` installs it")
    return path


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    path_env = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": path_env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("app", APPS)
def test_hadolint_passes(app):
    result = run(tool("hadolint"), "--failure-threshold", "style", str(DOCKER_DIR / f"{app}.Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_is_valid():
    result = run(tool("docker-compose"), "-f", str(DOCKER_DIR / "compose.yml"), "config", "-q")
    assert result.returncode == 0, result.stdout + result.stderr


COMPOSE_LB = {
    "BOOKSTORE_LB_BIND": ":8080",
    "BOOKSTORE_LB_API1": "api1:8000",
    "BOOKSTORE_LB_API2": "api2:8000",
    "BOOKSTORE_LB_WEB1": "web1:8000",
    "BOOKSTORE_LB_WEB2": "web2:8000",
    "BOOKSTORE_LB_STATS_BIND": ":8404",
    "BOOKSTORE_LB_DNS": "127.0.0.11:53",
}
STACK_LB = {
    "BOOKSTORE_LB_BIND": "127.0.0.1:8080",
    "BOOKSTORE_LB_API1": "127.0.0.11:8001",
    "BOOKSTORE_LB_API2": "127.0.0.12:8001",
    "BOOKSTORE_LB_STATS_SOCKET": "/nonexistent/haproxy.sock",
}


@pytest.mark.parametrize("settings", [COMPOSE_LB, STACK_LB], ids=["compose", "stack-without-storefront"])
def test_haproxy_accepts_its_configuration(settings):
    result = run(tool("haproxy"), "-c", "-q", "-f", str(DOCKER_DIR / "haproxy.cfg"), env=settings)
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_are_api_web_and_infra_workflows():
    names = {path.name for path in WORKFLOWS}
    assert {"api.yml", "web.yml", "infra.yml"} <= names


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_passes(workflow):
    result = run(tool("actionlint"), "-shellcheck", tool("shellcheck"), str(workflow))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(workflow):
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow))
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_pass_shellcheck():
    scripts = [REPO_ROOT / "scripts" / "lint-docker.sh", *sorted((REPO_ROOT / ".github" / "scripts").glob("*.sh"))]
    result = run(tool("shellcheck"), *map(str, scripts))
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_script_passes():
    """What `make lint` runs, end to end."""
    result = run("bash", str(REPO_ROOT / "scripts" / "lint-docker.sh"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
