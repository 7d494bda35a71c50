"""Helpers of the infrastructure tests: a moto server handle and a playbook runner.

The playbooks never learn they talk to moto: the AWS endpoint is given through
AWS_ENDPOINT_URL (read by botocore itself, so lookups and the inventory plugin
follow too) and the aws_endpoint_url variable (module_defaults). Tools are taken
from the running interpreter's venv (next to sys.executable), not from PATH.

Privilege escalation always fails in these runs (ANSIBLE_BECOME_ALLOW_SAME_USER
with a sudo that refuses): on a real control node sudo needs a password or drops
the AWS credentials, so a task that escalates on the control node — an AWS call
delegated to localhost inside a `become: true` play — must fail here too. The
stand-in app hosts of the deploy tests set ansible_become false, as real hosts
would escalate fine.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
MOTO_ACCOUNT = "123456789012"
REGION = "us-east-1"
LAUNCHER = Path(__file__).with_name("moto_launcher.py")
NO_SUDO = Path(__file__).with_name("no-sudo.sh")


def tool(name: str) -> str:
    """Path of a console script installed in the running venv."""
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}: install requirements/infra.in")
    return str(path)


def base_env() -> dict[str, str]:
    """Environment for tools: the venv first on PATH, no real AWS credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_BECOME_ALLOW_SAME_USER="true",
        ANSIBLE_BECOME_EXE=str(NO_SUDO),
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Moto:
    """A running moto server on the loopback interface."""

    url: str

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def env(self) -> dict[str, str]:
        env = base_env()
        env.update(AWS_ENDPOINT_URL=self.url, AWS_URL=self.url)
        return env


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    seconds: float

    def recap(self) -> dict[str, dict[str, int]]:
        """Per host counters of the PLAY RECAP (ok, changed, failed, ...)."""
        hosts: dict[str, dict[str, int]] = {}
        for line in self.output.split("PLAY RECAP")[-1].splitlines():
            match = re.match(r"^(\S+)\s+:\s+(.*)$", line)
            if match:
                hosts[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
        return hosts


def run_playbook(
    aws: Moto,
    playbook: str,
    inventories: list[str | Path],
    extra_vars: dict[str, object] | None = None,
    args: list[str] | None = None,
) -> PlaybookRun:
    """Run a playbook of playbooks/ against moto and return its output."""
    command = [tool("ansible-playbook")]
    for inventory in inventories:
        command += ["-i", str(inventory)]
    variables = {"aws_endpoint_url": aws.url, **(extra_vars or {})}
    command += ["-e", json.dumps(variables)]
    command += list(args or [])
    command.append(str(REPO_ROOT / "playbooks" / playbook))
    started = time.monotonic()
    result = subprocess.run(command, cwd=REPO_ROOT, env=aws.env(), capture_output=True, text=True, timeout=600)
    return PlaybookRun(result.returncode, result.stdout + result.stderr, time.monotonic() - started)


# Wall-clock seconds of each playbook run, reported at the end of the session.
TIMINGS: list[tuple[str, str, float, dict[str, int]]] = []


#: where workers running side by side (pytest-xdist) write their timings for the summary
TIMINGS_FILE = "BOOKSTORE_INFRA_TIMINGS_FILE"


def record(environment: str, what: str, run: PlaybookRun) -> None:
    entry = (environment, what, run.seconds, run.recap().get("localhost", {}))
    TIMINGS.append(entry)
    shared = os.environ.get(TIMINGS_FILE)
    if shared:
        with open(shared, "a") as out:
            out.write(json.dumps(entry) + "\n")


def inventory(environment: str) -> Path:
    """The environment's control-node inventory (its group_vars, no EC2 hosts)."""
    return REPO_ROOT / "inventories" / environment / "hosts.yml"
