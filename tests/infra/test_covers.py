"""The covers storage (roles/covers) provisioned in moto: a private, encrypted bucket with ACLs
disabled, a lifecycle rule that expires orphaned covers, read only by the environment's CloudFront
distribution through Origin Access Control, and the instance role allowed just what the API does."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from tests.infra.awsrun import MOTO_ACCOUNT, inventory, record, run_playbook

pytestmark = pytest.mark.infra

ENVIRONMENT = "staging"
NAME = f"bookstore-{ENVIRONMENT}"
BUCKET = f"{NAME}-covers-{MOTO_ACCOUNT}"
ROLE = f"{NAME}-instance"


def document(value):
    return json.loads(unquote(value)) if isinstance(value, str) else value


@pytest.fixture(scope="class")
def covers(aws):
    aws.reset()
    iam = aws.client("iam")
    # the instance role comes from roles/compute, which runs before this role in provision.yml
    iam.create_role(
        RoleName=ROLE,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    runs = []
    for what in ("covers", "covers re-run"):
        run = run_playbook(aws, "covers.yml", [inventory(ENVIRONMENT)])
        record(ENVIRONMENT, what, run)
        runs.append(run)
    s3, cloudfront, ssm = aws.client("s3"), aws.client("cloudfront"), aws.client("ssm")
    distributions = cloudfront.list_distributions()["DistributionList"].get("Items", [])
    state = {
        "runs": runs,
        "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
        "encryption": s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"],
        "public_access": s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"],
        "ownership": s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"],
        "lifecycle": s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"],
        "policy": json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"]),
        "role_policy": document(iam.get_role_policy(RoleName=ROLE, PolicyName="covers")["PolicyDocument"]),
        "distributions": distributions,
        "oacs": cloudfront.list_origin_access_controls()["OriginAccessControlList"].get("Items", []),
        "parameters": {
            p["Name"].rsplit("/", 1)[1]: p["Value"]
            for p in ssm.get_parameters_by_path(Path=f"/bookstore/{ENVIRONMENT}")["Parameters"]
        },
    }
    state["teardown"] = run_playbook(aws, "covers.yml", [inventory(ENVIRONMENT)], {"covers_state": "absent"})
    record(ENVIRONMENT, "covers teardown", state["teardown"])
    state["after"] = {
        "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
        "distributions": cloudfront.list_distributions()["DistributionList"].get("Items", []),
        "oacs": cloudfront.list_origin_access_controls()["OriginAccessControlList"].get("Items", []),
        "role_policies": iam.list_role_policies(RoleName=ROLE)["PolicyNames"],
        "parameters": ssm.get_parameters_by_path(Path=f"/bookstore/{ENVIRONMENT}")["Parameters"],
    }
    return state


class TestCoversStorage:
    def test_provisioned_once_and_idempotent(self, covers):
        first, again = covers["runs"]
        assert first.returncode == 0, first.output[-6000:]
        assert again.returncode == 0, again.output[-6000:]
        assert again.recap()["localhost"]["changed"] == 0, again.output[-6000:]

    def test_bucket_is_private_encrypted_and_acls_are_off(self, covers):
        assert BUCKET in covers["buckets"], "named after the account: bucket names are global"
        assert covers["public_access"] == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        [rule] = covers["encryption"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert covers["ownership"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]

    def test_lifecycle_expires_orphaned_covers_only(self, covers):
        rules = {rule["ID"]: rule for rule in covers["lifecycle"]}
        orphans = rules["expire-orphaned-covers"]
        assert orphans["Status"] == "Enabled" and orphans["Expiration"]["Days"] == 30
        condition = orphans["Filter"]["And"]
        assert condition["Prefix"] == "covers/" and condition["Tags"] == [{"Key": "orphaned", "Value": "true"}]
        assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
        assert "expire-noncurrent-versions" not in rules, "versioning is off by default"

    def test_only_the_environments_distribution_may_read_and_only_over_tls(self, covers):
        [distribution] = covers["distributions"]
        allow, deny = covers["policy"]["Statement"]
        assert allow["Effect"] == "Allow" and allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert allow["Action"] == "s3:GetObject" and allow["Resource"] == f"arn:aws:s3:::{BUCKET}/covers/*"
        assert allow["Condition"] == {"StringEquals": {"AWS:SourceArn": distribution["ARN"]}}
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert not any(s["Effect"] == "Allow" and s["Principal"] == "*" for s in covers["policy"]["Statement"])

    def test_cloudfront_reads_the_bucket_through_origin_access_control(self, covers):
        [distribution] = covers["distributions"]
        [oac] = covers["oacs"]
        assert oac["Name"] == f"{NAME}-covers" and oac["OriginAccessControlOriginType"] == "s3"
        assert oac["SigningProtocol"] == "sigv4" and oac["SigningBehavior"] == "always"
        assert distribution["Comment"] == f"{NAME}-covers" and distribution["Enabled"]
        [origin] = distribution["Origins"]["Items"]
        assert origin["DomainName"] == f"{BUCKET}.s3.us-east-1.amazonaws.com"
        assert distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"

    def test_instance_role_gets_the_covers_prefix_and_nothing_else(self, covers):
        [statement] = covers["role_policy"]["Statement"]
        assert statement["Effect"] == "Allow"
        assert sorted(statement["Action"]) == ["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"]
        assert statement["Resource"] == f"arn:aws:s3:::{BUCKET}/covers/*"
        assert "Condition" not in statement

    def test_settings_for_the_deploy(self, covers):
        [distribution] = covers["distributions"]
        parameters = covers["parameters"]
        assert parameters["covers_bucket"] == BUCKET
        assert parameters["covers_public_url"] == f"https://{distribution['DomainName']}/"
        assert parameters["covers_region"] == "us-east-1" and parameters["covers_prefix"] == "covers/"

    def test_teardown_leaves_nothing(self, covers):
        assert covers["teardown"].returncode == 0, covers["teardown"].output[-6000:]
        after = covers["after"]
        assert BUCKET not in after["buckets"]
        assert after["distributions"] == [] and after["oacs"] == []
        assert after["role_policies"] == [] and after["parameters"] == []
