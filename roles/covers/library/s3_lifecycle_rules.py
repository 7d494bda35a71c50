#!/usr/bin/python
"""Keep a bucket's whole lifecycle configuration equal to a list of rules.

community.aws.s3_lifecycle filters rules by prefix only; the covers bucket
expires objects by tag (``orphaned=true``) under a prefix, which needs an
``And`` filter. This module sets the complete configuration (the rules given,
and no others) and reports a change only when it differs.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_lifecycle_rules
short_description: Set the complete lifecycle configuration of an S3 bucket
description:
  - Replace the bucket's lifecycle rules with exactly the given ones, when they differ.
options:
  name:
    description: The bucket.
    type: str
    required: true
  rules:
    description: Lifecycle rules in the S3 API's shape (C(ID), C(Status), C(Filter), C(Expiration), ...).
    type: list
    elements: dict
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Expire orphaned covers
  s3_lifecycle_rules:
    name: my-bucket
    rules:
      - ID: expire-orphans
        Status: Enabled
        Filter: {And: {Prefix: covers/, Tags: [{Key: orphaned, Value: "true"}]}}
        Expiration: {Days: 30}
"""

RETURN = r"""
rules:
  description: The rules now in force.
  returned: always
  type: list
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def normalised(rules):
    """Rules in a comparable form: ids sorted, values as strings (YAML may give ints or bools)."""

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in sorted(value.items())}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return str(value)

    return sorted((clean(rule) for rule in rules), key=lambda rule: rule.get("ID", ""))


def typed(value):
    """Numbers where the API wants numbers (days), from YAML's strings."""
    if isinstance(value, dict):
        return {
            k: (int(v) if k in ("Days", "NoncurrentDays", "DaysAfterInitiation") else typed(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [typed(v) for v in value]
    return value


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(name=dict(type="str", required=True), rules=dict(type="list", elements="dict", default=[])),
        supports_check_mode=True,
    )
    bucket, wanted = module.params["name"], typed(module.params["rules"])
    client = module.client("s3", retry_decorator=AWSRetry.jittered_backoff())
    try:
        try:
            current = client.get_bucket_lifecycle_configuration(aws_retry=True, Bucket=bucket).get("Rules", [])
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] != "NoSuchLifecycleConfiguration":
                raise
            current = []
        if normalised(current) == normalised(wanted):
            module.exit_json(changed=False, rules=current)
        if not module.check_mode:
            if wanted:
                client.put_bucket_lifecycle_configuration(
                    aws_retry=True, Bucket=bucket, LifecycleConfiguration={"Rules": wanted}
                )
            else:
                client.delete_bucket_lifecycle(aws_retry=True, Bucket=bucket)
        module.exit_json(changed=True, rules=wanted)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Setting the lifecycle rules of {bucket}")


if __name__ == "__main__":
    main()
