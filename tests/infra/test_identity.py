"""The pipelines' identity (playbooks/identity.yml) created in moto: the GitHub
OIDC provider, and one role per duty whose trust names this repository and one
branch or GitHub environment, with policies scoped to their duty."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from tests.infra.awsrun import inventory, record, run_playbook

pytestmark = pytest.mark.infra

REPOSITORY = "acme/bookstore"


def document(value):
    return json.loads(unquote(value)) if isinstance(value, str) else value


@pytest.fixture(scope="class")
def identity(aws):
    aws.reset()
    runs = []
    for what in ("identity", "identity re-run"):
        run = run_playbook(aws, "identity.yml", [inventory("production")], {"identity_github_repository": REPOSITORY})
        record("account", what, run)
        runs.append(run)
    iam = aws.client("iam")
    roles = {}
    for role in iam.list_roles()["Roles"]:
        if role["RoleName"].startswith("bookstore-github-"):
            policy = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="duty")["PolicyDocument"]
            roles[role["RoleName"]] = {"trust": document(role["AssumeRolePolicyDocument"]), "policy": document(policy)}
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=providers[0]["Arn"]) if providers else None
    refused = run_playbook(aws, "identity.yml", [inventory("production")])
    return {"runs": runs, "roles": roles, "providers": providers, "provider": provider, "refused": refused}


class TestPipelineIdentity:
    def test_created_once_and_idempotent(self, identity):
        first, again = identity["runs"]
        assert first.returncode == 0, first.output[-6000:]
        assert again.recap()["localhost"]["changed"] == 0, again.output[-6000:]

    def test_refuses_without_a_repository(self, identity):
        assert identity["refused"].returncode != 0 and "identity_github_repository" in identity["refused"].output

    def test_github_oidc_provider_for_sts(self, identity):
        [provider] = identity["providers"]
        assert provider["Arn"].endswith(":oidc-provider/token.actions.githubusercontent.com")
        assert identity["provider"]["ClientIDList"] == ["sts.amazonaws.com"]

    def test_every_role_trusts_one_repository_and_one_branch_or_environment(self, identity):
        expected = {
            "bookstore-github-ecr-push": f"repo:{REPOSITORY}:ref:refs/heads/main",
            **{f"bookstore-github-deploy-{e}": f"repo:{REPOSITORY}:environment:{e}" for e in ("staging", "production")},
            **{
                f"bookstore-github-provision-{e}": f"repo:{REPOSITORY}:environment:{e}-infra"
                for e in ("staging", "production")
            },
            **{
                f"bookstore-github-plan-{e}": f"repo:{REPOSITORY}:environment:{e}-plan"
                for e in ("staging", "production")
            },
        }
        assert set(identity["roles"]) == set(expected)
        for name, role in identity["roles"].items():
            [statement] = role["trust"]["Statement"]
            assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
            assert statement["Principal"]["Federated"].endswith(":oidc-provider/token.actions.githubusercontent.com")
            assert set(statement["Condition"]) == {"StringEquals"}, "exact subjects, no wildcards"
            condition = statement["Condition"]["StringEquals"]
            assert condition["token.actions.githubusercontent.com:sub"] == expected[name]
            assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"

    def test_policies_are_scoped_to_their_duty(self, identity):
        for name, role in identity["roles"].items():
            for statement in role["policy"]["Statement"]:
                assert statement["Effect"] == "Allow"
                actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
                for action in actions:
                    service, verb = action.split(":")
                    assert verb != "*" and action != "*", (name, action)
                    if "*" in verb:
                        assert verb.startswith(("Describe", "Get", "List")), (name, action)
        deploy = json.dumps(identity["roles"]["bookstore-github-deploy-production"]["policy"])
        assert "staging" not in deploy and "ec2:RunInstances" not in deploy and "iam:" not in deploy
        push = identity["roles"]["bookstore-github-ecr-push"]["policy"]
        assert {
            a.split(":")[0]
            for s in push["Statement"]
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        } == {"ecr"}
        plan = json.dumps(identity["roles"]["bookstore-github-plan-production"]["policy"])
        for write in ("Create", "Delete", "Put", "Modify", "Register", "Run", "Terminate"):
            assert f":{write}" not in plan, write
        provision = json.dumps(identity["roles"]["bookstore-github-provision-production"]["policy"])
        assert "role/bookstore-production-instance" in provision and "bookstore-staging" not in provision
