"""What the infrastructure and deploy pipelines promise, read from the workflows:
hosts reachable where a playbook reaches them, a plan before any approval, the
functional suites between staging and production, no cross-app rollback."""

from __future__ import annotations

import yaml

from tests.infra.awsrun import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def names(job: dict) -> list[str]:
    return [step.get("name", step.get("uses", "")) for step in job.get("steps", [])]


def test_every_job_that_reaches_hosts_has_the_session_manager_plugin_and_the_ssh_key():
    """provision.yml and deploy.yml log in to the hosts over SSH in Session Manager."""
    for name in ("reusable-provision.yml", "reusable-deploy.yml"):
        for job_name, job in workflow(name)["jobs"].items():
            text = runs(job)
            reaches_hosts = (
                "playbooks/provision.yml" in text or "playbooks/deploy.yml" in text
            ) and "--limit localhost" not in text
            if not reaches_hosts:
                continue
            assert "session-manager-plugin" in text, (name, job_name)
            assert "DEPLOY_SSH_PRIVATE_KEY" in yaml.safe_dump(job), (name, job_name)
            assert "rm -f ~/.ssh/id_ed25519" in text, (name, job_name)


def test_provisioning_gets_the_keys_and_domains_the_inventory_reads():
    job = workflow("reusable-provision.yml")["jobs"]["provision"]
    for variable in (
        "BOOKSTORE_SSH_PUBLIC_KEY",
        "BOOKSTORE_CERTIFICATE_ARN",
        "BOOKSTORE_DOMAIN",
        "BOOKSTORE_ROUTE53_ZONE",
    ):
        assert variable in job["env"]
        text = (REPO_ROOT / "inventories" / "production" / "group_vars" / "all" / "main.yml").read_text()
        assert variable in text


def test_a_check_diff_plan_is_shown_before_any_approval():
    for name, gated in (("reusable-provision.yml", "provision"), ("reusable-deploy.yml", "deploy")):
        jobs = workflow(name)["jobs"]
        plan = jobs["plan"]
        assert "--check --diff" in runs(plan) and "GITHUB_STEP_SUMMARY" in runs(plan)
        assert plan["environment"]["name"].endswith("-plan"), "a read-only role, no reviewers"
        assert jobs[gated]["needs"] == "plan"
        role = [s for s in plan["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
        assert role and role[0]["with"]["role-to-assume"] == "${{ vars.AWS_PLAN_ROLE_ARN }}"


def test_functional_suites_run_against_staging_before_production():
    jobs = workflow("reusable-deploy.yml")["jobs"]
    qa = jobs["qa"]
    assert qa["needs"] == "deploy" and "if" not in qa, "after every deploy"
    text = runs(qa)
    assert 'make qa URL="$SHOP_URL" WEB_URL="$SHOP_WEB_URL" READONLY="$QA_READONLY"' in text, "both suites, one command"
    # production gets the read-only mode, staging everything; the suite also refuses to write
    # to a shop that says it is production
    assert qa["env"]["QA_READONLY"] == "${{ inputs.environment == 'production' && '1' || '' }}"
    assert qa["env"]["BOOKSTORE_TEST_ENVIRONMENT"] == "${{ inputs.environment }}"
    for app in ("api.yml", "web.yml"):
        app_jobs = workflow(app)["jobs"]
        # production waits for the whole staging workflow, QA included.
        assert app_jobs["production"]["needs"] == "staging"
        assert app_jobs["staging"]["uses"] == "./.github/workflows/reusable-deploy.yml"


def test_a_pipeline_moves_only_its_own_app_and_never_an_older_commit():
    deploy = workflow("reusable-deploy.yml")["jobs"]
    text = runs(deploy["deploy"])
    assert "app_deploy_apps" in text and "$APP" in text
    assert "tag-release" not in (runs(deploy["plan"]) + text)
    assert not (REPO_ROOT / ".github" / "scripts" / "tag-release.sh").exists()
    assert "release-guard.sh" in runs(deploy["plan"])
    assert deploy["deploy"]["if"] == "needs.plan.outputs.deploy == 'true'"


def test_environments_are_separated_by_duty():
    """The OIDC roles trust one GitHub environment each (roles/identity)."""
    provision = workflow("reusable-provision.yml")["jobs"]["provision"]
    assert provision["environment"]["name"] == "${{ inputs.environment }}-infra"
    deploy = workflow("reusable-deploy.yml")["jobs"]["deploy"]
    assert deploy["environment"]["name"] == "${{ inputs.environment }}"
