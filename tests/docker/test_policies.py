"""What the images, the compose stack and the pipelines promise, read from the files:
multi-stage slim images that run as a non-root user, a /healthz HEALTHCHECK and an
exec-form server; the AWS step-2 topology in compose; pipelines that push by git SHA
with OIDC only, deploy through staging to an approved production, never two at once."""

from __future__ import annotations

import re

import pytest
import yaml

from .dockerfile import APPS, DOCKER_DIR, REPO_ROOT, dockerfile_of, healthcheck_command

WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"


def load_workflow(name: str) -> dict:
    # PyYAML reads the key `on` as True; normalise it.
    data = yaml.safe_load((WORKFLOWS_DIR / name).read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


# ---------------------------------------------------------------- images


@pytest.mark.parametrize("app", APPS)
def test_image_is_multi_stage_on_slim_python_311(app):
    dockerfile = dockerfile_of(app)
    assert len(dockerfile.stages) >= 2
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", dockerfile.final.base)
    assert dockerfile.stages[0].name == "builder"
    copies = " ".join(i.args for i in dockerfile.final.all("COPY"))
    assert "--from=builder /opt/venv /opt/venv" in copies


@pytest.mark.parametrize("app", APPS)
def test_builder_installs_only_its_own_pinned_requirements_and_wheel(app):
    builder = dockerfile_of(app).stages[0]
    runs = " ".join(i.args for i in builder.all("RUN"))
    other = "web" if app == "api" else "api"
    assert f"-r requirements/{app}.txt" in runs
    assert "-r requirements.txt" not in runs and f"requirements/{other}.txt" not in runs
    assert f"BOOKSTORE_DIST={app} pip wheel" in runs
    assert "/wheels/*.whl" in runs
    # Pyramid imports pkg_resources at run time: setuptools < 81 stays in the venv.
    assert re.search(r'"setuptools==80\.[\d.]+"', runs)
    assert "uninstall" not in runs


@pytest.mark.parametrize("app", APPS)
def test_runtime_installs_no_compiler_and_runs_as_a_non_root_user(app):
    final = dockerfile_of(app).final
    runs = " ".join(i.args for i in final.all("RUN"))
    assert not re.search(r"\b(gcc|g\+\+|build-essential|clang|make)\b", runs)
    user = final.last("USER")
    assert user is not None
    assert user.args.split(":")[0] not in ("root", "0")


@pytest.mark.parametrize("app", APPS)
def test_server_is_started_in_exec_form_and_checked_on_healthz(app):
    final = dockerfile_of(app).final
    assert final.last("ENTRYPOINT") is None  # `docker run IMAGE bookstore migrate` must work
    command = {"api": "bookstore", "web": "bookstore-web"}[app]
    assert final.last("CMD").exec_form() == [command, "serve", "--host", "0.0.0.0", "--port", "8000"]
    check = healthcheck_command(final)
    assert check[0] == "python" and "/healthz" in check[-1]
    assert final.last("EXPOSE").args == "8000"
    # PID 1 gets only the signals it handles: Python handles SIGINT.
    assert final.last("STOPSIGNAL").args == "SIGINT"


@pytest.mark.parametrize("app", APPS)
def test_image_carries_oci_labels_and_no_settings_of_an_environment(app):
    final = dockerfile_of(app).final
    labels = final.labels()
    for key in ("title", "description", "version", "revision", "created", "source"):
        assert f"org.opencontainers.image.{key}" in labels
    assert labels["org.opencontainers.image.title"] == f"bookstore-{app}"
    env = final.env()
    assert not {"BOOKSTORE_DATABASE_URL", "BOOKSTORE_REDIS_URL", "BOOKSTORE_SESSION_SECRET"} & set(env)


def test_build_context_leaves_out_local_state():
    ignored = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignored[0] == "*"  # everything is excluded, then what the wheel needs is let back in
    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    assert {"setup.py", "requirements.txt", "bookstore_api", "bookstore_web"} <= allowed
    assert not allowed & {".venv", "var", ".git", "tests"}


# ---------------------------------------------------------------- compose


def compose() -> dict:
    return yaml.safe_load((DOCKER_DIR / "compose.yml").read_text())


def test_compose_has_the_topology_of_aws_step_2():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api1", "api2", "web1", "web2", "haproxy"}
    assert services["haproxy"]["ports"][0] == "8080:8080"
    lb = services["haproxy"]["environment"]
    assert (lb["BOOKSTORE_LB_API1"], lb["BOOKSTORE_LB_API2"]) == ("api1:8000", "api2:8000")
    assert (lb["BOOKSTORE_LB_WEB1"], lb["BOOKSTORE_LB_WEB2"]) == ("web1:8000", "web2:8000")
    for name in ("api1", "api2", "web1", "web2"):
        assert "ports" not in services[name], "app containers are reached through the load balancer only"
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["read_only"] is True


def test_compose_migrates_once_with_the_api_image():
    migrate = compose()["services"]["migrate"]
    assert migrate["command"] == ["bookstore", "migrate"]
    assert migrate["build"]["dockerfile"] == "docker/api.Dockerfile"
    assert migrate["restart"] == "no"


# ---------------------------------------------------------------- pipelines


def all_steps(workflow: dict):
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


def test_every_action_is_pinned_to_a_release():
    for path in WORKFLOWS_DIR.glob("*.yml"):
        for step in all_steps(load_workflow(path.name)):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+\.\d+\.\d+", step["uses"]), (path.name, step["uses"])


def test_aws_access_uses_oidc_roles_and_no_stored_keys():
    text = "\n".join(path.read_text() for path in WORKFLOWS_DIR.glob("*.yml"))
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for path in WORKFLOWS_DIR.glob("*.yml"):
        workflow = load_workflow(path.name)
        for step in all_steps(workflow):
            if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
                assert "role-to-assume" in step["with"]
                assert workflow["permissions"]["id-token"] == "write", path.name


@pytest.mark.parametrize("app,other", [("api", "web"), ("web", "api")])
def test_app_pipelines_are_path_filtered_to_their_app(app, other):
    workflow = load_workflow(f"{app}.yml")
    for event in ("push", "pull_request"):
        paths = workflow["on"][event]["paths"]
        assert f"bookstore_{app}/**" in paths
        assert f"bookstore_{other}/**" not in paths
        assert f"docker/{app}.Dockerfile" in paths and f"docker/{other}.Dockerfile" not in paths
        assert f".github/workflows/{app}.yml" in paths
    assert workflow["on"]["push"]["branches"] == ["main"]


@pytest.mark.parametrize("app", APPS)
def test_app_pipeline_tests_builds_pushes_and_deploys_staging_then_approved_production(app):
    jobs = load_workflow(f"{app}.yml")["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/reusable-test.yml"
    assert jobs["image"]["needs"] == "test"
    assert jobs["image"]["with"]["app"] == app
    assert jobs["staging"]["needs"] == "image" and jobs["staging"]["with"]["environment"] == "staging"
    assert "refs/heads/main" in jobs["staging"]["if"]
    assert jobs["production"]["needs"] == "staging" and jobs["production"]["with"]["environment"] == "production"


def test_tests_run_on_postgres_and_redis_service_containers():
    job = load_workflow("reusable-test.yml")["jobs"]["lint-and-test"]
    assert {"postgres", "redis"} <= set(job["services"])
    assert job["env"]["BOOKSTORE_TEST_DATABASE_URL"].startswith("postgresql://")
    assert job["env"]["BOOKSTORE_TEST_REDIS_URL"].startswith("redis://")
    runs = [step.get("run", "") for step in job["steps"]]
    assert "make lint" in runs and any(run.startswith("make test") for run in runs)


def test_images_are_tagged_with_the_git_sha():
    text = (WORKFLOWS_DIR / "reusable-image.yml").read_text()
    assert "$REPOSITORY:$GITHUB_SHA" in text
    assert re.search(r"docker push \"\$IMAGE\"", text)


def test_deploys_run_the_playbook_one_at_a_time_per_environment():
    job = load_workflow("reusable-deploy.yml")["jobs"]["deploy"]
    assert job["environment"]["name"] == "${{ inputs.environment }}"
    assert job["concurrency"] == {"group": "deploy-${{ inputs.environment }}", "cancel-in-progress": False}
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'ansible-playbook -i "inventories/$ENVIRONMENT" playbooks/deploy.yml' in runs
    assert "app_deploy_image_tag=$RELEASE" in runs
    assert job["env"]["RELEASE"] == "${{ github.sha }}"


def test_deploy_variable_is_the_one_the_playbook_reads():
    playbook_text = (REPO_ROOT / "playbooks" / "deploy.yml").read_text()
    defaults = yaml.safe_load((REPO_ROOT / "roles" / "app_deploy" / "defaults" / "main.yml").read_text())
    assert "app_deploy_image_tag" in defaults
    assert "app_deploy_image_tag" in playbook_text
