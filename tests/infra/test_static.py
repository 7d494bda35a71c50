"""Static checks of the Ansible code: lint, syntax and the roles' interfaces."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.infra.awsrun import REPO_ROOT, VENV_BIN, base_env

ROLES = sorted(p.name for p in (REPO_ROOT / "roles").iterdir() if p.is_dir())


def test_lint_and_syntax_check_pass():
    """yamllint, ansible-lint (production profile, offline), --syntax-check."""
    env = base_env() | {"BOOKSTORE_VENV_BIN": str(VENV_BIN)}
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "lint-infra.sh")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


def test_every_role_named_in_the_design_exists():
    assert set(ROLES) >= {
        "network",
        "security_groups",
        "ecr",
        "secrets",
        "data",
        "compute",
        "docker_host",
        "alb",
        "app_deploy",
    }


@pytest.mark.parametrize("role", ROLES)
def test_role_defaults_are_documented_and_prefixed(role):
    path = REPO_ROOT / "roles" / role / "defaults" / "main.yml"
    text = path.read_text()
    assert text.splitlines()[1].startswith(f"# {role}"), "defaults/main.yml opens with a comment describing the role"
    defaults = yaml.safe_load(text) or {}
    assert defaults, "a role's defaults are its interface"
    assert [k for k in defaults if not k.startswith(f"{role}_")] == []


@pytest.mark.parametrize("environment,step", [("dev", 1), ("staging", 2), ("production", 3)])
def test_each_inventory_picks_its_step(environment, step):
    group_vars = yaml.safe_load(
        (REPO_ROOT / "inventories" / environment / "group_vars" / "all" / "main.yml").read_text()
    )
    assert group_vars["bookstore_environment"] == environment
    assert group_vars["bookstore_step"] == step
    plugin = yaml.safe_load((REPO_ROOT / "inventories" / environment / "aws_ec2.yml").read_text())
    assert plugin["plugin"] == "amazon.aws.aws_ec2"
    assert plugin["filters"]["tag:Environment"] == environment


def test_deploy_is_serial_and_stops_at_the_first_failure():
    plays = yaml.safe_load((REPO_ROOT / "playbooks" / "deploy.yml").read_text())
    rollout = next(p for p in plays if p.get("hosts") == "bookstore_app")
    assert rollout["serial"] == 1
    assert rollout["max_fail_percentage"] == 0
    assert plays[0]["ansible.builtin.import_playbook"] == "migrate.yml", "migrations run before the rollout"


def test_host_templates_render(tmp_path):
    """daemon.json sends container logs to CloudWatch; user data is cloud-config."""
    result = subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"render_dir={tmp_path}",
            str(REPO_ROOT / "tests" / "infra" / "render_templates.yml"),
        ],
        cwd=REPO_ROOT,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    daemon = json.loads((tmp_path / "daemon.json").read_text())
    assert daemon["log-driver"] == "awslogs"
    assert daemon["log-opts"] == {
        "awslogs-region": "us-east-1",
        "awslogs-group": "/bookstore/production",
        "tag": "{{.Name}}",
    }
    assert daemon["live-restore"] is True and daemon["no-new-privileges"] is True
    user_data = (tmp_path / "user-data.yml").read_text()
    assert user_data.startswith("#cloud-config\n")
    assert ["systemctl", "enable", "--now", "amazon-ssm-agent"] in yaml.safe_load(user_data)["runcmd"]
