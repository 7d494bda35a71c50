#!/usr/bin/python
"""Manage a CloudWatch dashboard.

Neither amazon.aws nor community.aws ships a dashboard module at the versions
pinned here. This one puts a dashboard body when it differs from the one
stored (compared as JSON, so re-runs change nothing) and deletes it on absent.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
short_description: Manage a CloudWatch dashboard
description:
  - Create, update or delete one CloudWatch dashboard.
options:
  name:
    description: Name of the dashboard.
    type: str
    required: true
  body:
    description: The dashboard body (widgets), as a dict or a JSON string.
    type: raw
  state:
    description: Whether the dashboard should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Publish the environment's dashboard
  cloudwatch_dashboard:
    name: bookstore-production
    body: "{{ lookup('ansible.builtin.template', 'dashboard.json.j2') }}"
"""

RETURN = r"""
dashboard_arn:
  description: ARN of the dashboard.
  returned: when it exists
  type: str
"""

import json

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def current(client, name):
    try:
        return client.get_dashboard(aws_retry=True, DashboardName=name)
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] in ("ResourceNotFound", "ResourceNotFoundException"):
            return None
        raise


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            body=dict(type="raw"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
        required_if=[("state", "present", ["body"])],
    )
    p = module.params
    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    try:
        found = current(client, p["name"])
        if p["state"] == "absent":
            if found and not module.check_mode:
                client.delete_dashboards(aws_retry=True, DashboardNames=[p["name"]])
            module.exit_json(changed=bool(found))
        body = p["body"] if isinstance(p["body"], dict) else json.loads(p["body"])
        if found and json.loads(found["DashboardBody"]) == body:
            module.exit_json(changed=False, dashboard_arn=found["DashboardArn"])
        if module.check_mode:
            module.exit_json(changed=True)
        client.put_dashboard(aws_retry=True, DashboardName=p["name"], DashboardBody=json.dumps(body))
        module.exit_json(changed=True, dashboard_arn=current(client, p["name"])["DashboardArn"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Managing the dashboard {p['name']}")


if __name__ == "__main__":
    main()
