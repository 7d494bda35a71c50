#!/usr/bin/python
"""Manage the flow log of a VPC.

Neither amazon.aws nor community.aws ships a flow-log module at the versions
pinned here. This one covers what the network role needs: one flow log per VPC,
all traffic, delivered to an S3 bucket (no delivery role needed) or a
CloudWatch Logs group (with a delivery role), matched by VPC and destination.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_vpc_flow_log
short_description: Manage the flow log of a VPC
description:
  - Create or delete the flow log of one VPC, matched by VPC id and destination.
options:
  vpc_id:
    description: The VPC whose traffic is logged.
    type: str
    required: true
  destination_type:
    description: Where the records go.
    type: str
    choices: [s3, cloud-watch-logs]
    default: s3
  destination:
    description:
      - ARN of the S3 bucket (or bucket/prefix) or of the log group. Required when
        O(state=present); with O(state=absent) and no destination, every flow log
        of the VPC is deleted.
    type: str
  delivery_role_arn:
    description: Role that delivers to CloudWatch Logs (cloud-watch-logs only).
    type: str
  traffic_type:
    description: Which traffic is logged.
    type: str
    choices: [ACCEPT, REJECT, ALL]
    default: ALL
  tags:
    description: Tags of the flow log.
    type: dict
    default: {}
  state:
    description: Whether the flow log should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Log the VPC's traffic to the log bucket
  ec2_vpc_flow_log:
    vpc_id: vpc-0123456789abcdef0
    destination: arn:aws:s3:::bookstore-production-logs-123456789012/vpc-flow-logs
"""

RETURN = r"""
flow_log_ids:
  description: Ids of the flow logs of the VPC to that destination.
  returned: always
  type: list
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list


def find(client, vpc_id, destination):
    logs = client.describe_flow_logs(aws_retry=True, Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    if destination is None:
        return logs
    return [f for f in logs if f.get("LogDestination") == destination or f.get("LogGroupName") == destination]


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            vpc_id=dict(type="str", required=True),
            destination_type=dict(type="str", choices=["s3", "cloud-watch-logs"], default="s3"),
            destination=dict(type="str"),
            delivery_role_arn=dict(type="str"),
            traffic_type=dict(type="str", choices=["ACCEPT", "REJECT", "ALL"], default="ALL"),
            tags=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
        required_if=[("state", "present", ["destination"])],
    )
    p = module.params
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        existing = find(client, p["vpc_id"], p["destination"])
        if p["state"] == "absent":
            if existing and not module.check_mode:
                client.delete_flow_logs(aws_retry=True, FlowLogIds=[f["FlowLogId"] for f in existing])
            module.exit_json(changed=bool(existing), flow_log_ids=[])
        if existing:
            module.exit_json(changed=False, flow_log_ids=[f["FlowLogId"] for f in existing])
        if module.check_mode:
            module.exit_json(changed=True, flow_log_ids=[])
        args = dict(
            ResourceIds=[p["vpc_id"]],
            ResourceType="VPC",
            TrafficType=p["traffic_type"],
            LogDestinationType=p["destination_type"],
            LogDestination=p["destination"],
        )
        if p["delivery_role_arn"]:
            args["DeliverLogsPermissionArn"] = p["delivery_role_arn"]
        if p["tags"]:
            args["TagSpecifications"] = [
                {"ResourceType": "vpc-flow-log", "Tags": ansible_dict_to_boto3_tag_list(p["tags"])}
            ]
        created = client.create_flow_logs(aws_retry=True, **args)
        if created.get("Unsuccessful"):
            module.fail_json(msg=f"Flow log not created: {created['Unsuccessful']}")
        module.exit_json(changed=True, flow_log_ids=created["FlowLogIds"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Managing the flow log of {p['vpc_id']}")


if __name__ == "__main__":
    main()
