#!/usr/bin/python
"""Manage an ElastiCache for Redis replication group.

The community.aws.elasticache module manages single cache clusters only: it can
set neither encryption (at rest, in transit) nor an AUTH token, and it cannot
create the replication group that Multi-AZ failover needs. This module covers
exactly what the bookstore's production Redis needs, through the same AWS
connection options as the amazon.aws modules.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: elasticache_replication_group
short_description: Manage an ElastiCache for Redis replication group
description:
  - Create, adjust or delete a Redis replication group (cluster mode disabled)
    with encryption at rest and in transit and an AUTH token.
  - Settings AWS cannot change in place (encryption, AUTH, subnet group, port)
    are applied at creation only; a difference is reported, never acted upon.
options:
  replication_group_id:
    description: Identifier of the replication group.
    type: str
    required: true
  description:
    description: Free-text description.
    type: str
    default: Redis
  state:
    description: Whether the group should exist.
    type: str
    choices: [present, absent]
    default: present
  node_type:
    description: Cache node type, for example C(cache.t4g.small).
    type: str
    default: cache.t4g.micro
  engine_version:
    description: Redis engine version.
    type: str
    default: "7.1"
  num_cache_clusters:
    description: Number of nodes (one primary, the rest replicas).
    type: int
    default: 1
  subnet_group:
    description: Cache subnet group name.
    type: str
  security_group_ids:
    description: VPC security group ids.
    type: list
    elements: str
    default: []
  port:
    description: Port Redis listens on.
    type: int
    default: 6379
  at_rest_encryption:
    description: Encrypt data at rest.
    type: bool
    default: true
  transit_encryption:
    description: Require TLS.
    type: bool
    default: true
  auth_token:
    description: AUTH token (16–128 printable characters); needs transit_encryption.
    type: str
  kms_key_id:
    description: KMS key for encryption at rest; the service key when omitted.
    type: str
  snapshot_retention_limit:
    description: Days automatic snapshots are kept (0 disables them).
    type: int
    default: 1
  tags:
    description: Tags of the group.
    type: dict
    default: {}
  wait:
    description: Wait until the group is available (present) or gone (absent).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Create the production Redis
  elasticache_replication_group:
    replication_group_id: bookstore-production
    node_type: cache.t4g.small
    num_cache_clusters: 2
    subnet_group: bookstore-production
    security_group_ids: [sg-0123456789abcdef0]
    auth_token: "{{ redis_token }}"
"""

RETURN = r"""
replication_group:
  description: The replication group as described by AWS (snake_case keys).
  returned: when state is present
  type: dict
primary_endpoint:
  description: Address and port of the primary node.
  returned: when state is present
  type: dict
"""

import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)


def describe(client, group_id):
    """Return the replication group, or None when it does not exist."""
    try:
        groups = client.describe_replication_groups(aws_retry=True, ReplicationGroupId=group_id)
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] == "ReplicationGroupNotFoundFault":
            return None
        raise
    return groups["ReplicationGroups"][0] if groups["ReplicationGroups"] else None


def wait_for(module, client, group_id, want_status):
    """Poll until the group has want_status (None: until it is gone)."""
    deadline = time.time() + module.params["wait_timeout"]
    while time.time() < deadline:
        group = describe(client, group_id)
        if group is None and want_status is None:
            return None
        if group is not None and group.get("Status") == want_status:
            return group
        time.sleep(10)
    module.fail_json(msg=f"Timed out waiting for replication group {group_id} to be {want_status or 'deleted'}")


def primary_endpoint(group):
    for node_group in group.get("NodeGroups", []):
        if node_group.get("PrimaryEndpoint"):
            return {
                "address": node_group["PrimaryEndpoint"].get("Address"),
                "port": node_group["PrimaryEndpoint"].get("Port"),
            }
    return {}


def create(module, client):
    p = module.params
    multi = p["num_cache_clusters"] > 1
    args = dict(
        ReplicationGroupId=p["replication_group_id"],
        ReplicationGroupDescription=p["description"],
        Engine="redis",
        EngineVersion=p["engine_version"],
        CacheNodeType=p["node_type"],
        NumCacheClusters=p["num_cache_clusters"],
        AutomaticFailoverEnabled=multi,
        MultiAZEnabled=multi,
        Port=p["port"],
        SecurityGroupIds=p["security_group_ids"],
        AtRestEncryptionEnabled=p["at_rest_encryption"],
        TransitEncryptionEnabled=p["transit_encryption"],
        SnapshotRetentionLimit=p["snapshot_retention_limit"],
        Tags=ansible_dict_to_boto3_tag_list(p["tags"]),
    )
    if p["subnet_group"]:
        args["CacheSubnetGroupName"] = p["subnet_group"]
    if p["auth_token"]:
        args["AuthToken"] = p["auth_token"]
    if p["kms_key_id"]:
        args["KmsKeyId"] = p["kms_key_id"]
    if module.check_mode:
        return True, {}
    group = client.create_replication_group(aws_retry=True, **args)["ReplicationGroup"]
    if p["wait"]:
        group = wait_for(module, client, p["replication_group_id"], "available")
    return True, group


def update(module, client, group):
    """Apply the settings AWS can change in place; report those it cannot."""
    p = module.params
    multi = p["num_cache_clusters"] > 1
    changes = {}
    if group.get("CacheNodeType") != p["node_type"]:
        changes["CacheNodeType"] = p["node_type"]
    if group.get("Description") != p["description"]:
        changes["ReplicationGroupDescription"] = p["description"]
    if (group.get("AutomaticFailover") == "enabled") != multi:
        changes["AutomaticFailoverEnabled"] = multi
    if (group.get("MultiAZ") == "enabled") != multi:
        changes["MultiAZEnabled"] = multi
    if group.get("SnapshotRetentionLimit") != p["snapshot_retention_limit"]:
        changes["SnapshotRetentionLimit"] = p["snapshot_retention_limit"]
    fixed = []
    if bool(group.get("AtRestEncryptionEnabled")) != p["at_rest_encryption"]:
        fixed.append("at_rest_encryption")
    if bool(group.get("TransitEncryptionEnabled")) != p["transit_encryption"]:
        fixed.append("transit_encryption")
    if fixed:
        module.warn(
            f"Replication group {p['replication_group_id']}: {', '.join(fixed)} differ and can only be set by recreating it"
        )

    changed = bool(changes)
    if changes and not module.check_mode:
        client.modify_replication_group(
            aws_retry=True, ReplicationGroupId=p["replication_group_id"], ApplyImmediately=True, **changes
        )
        if p["wait"]:
            wait_for(module, client, p["replication_group_id"], "available")

    arn = group.get("ARN")
    if arn:
        current = boto3_tag_list_to_ansible_dict(
            client.list_tags_for_resource(aws_retry=True, ResourceName=arn)["TagList"]
        )
        wanted = {k: str(v) for k, v in p["tags"].items()}
        if any(current.get(k) != v for k, v in wanted.items()):
            changed = True
            if not module.check_mode:
                client.add_tags_to_resource(
                    aws_retry=True, ResourceName=arn, Tags=ansible_dict_to_boto3_tag_list(wanted)
                )
    return changed, describe(client, p["replication_group_id"]) or group


def main():
    argument_spec = dict(
        replication_group_id=dict(type="str", required=True),
        description=dict(type="str", default="Redis"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        node_type=dict(type="str", default="cache.t4g.micro"),
        engine_version=dict(type="str", default="7.1"),
        num_cache_clusters=dict(type="int", default=1),
        subnet_group=dict(type="str"),
        security_group_ids=dict(type="list", elements="str", default=[]),
        port=dict(type="int", default=6379),
        at_rest_encryption=dict(type="bool", default=True),
        transit_encryption=dict(type="bool", default=True),
        auth_token=dict(type="str", no_log=True),
        kms_key_id=dict(type="str"),
        snapshot_retention_limit=dict(type="int", default=1),
        tags=dict(type="dict", default={}),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
    )
    if module.params["auth_token"] and not module.params["transit_encryption"]:
        module.fail_json(msg="auth_token requires transit_encryption")
    client = module.client("elasticache", retry_decorator=AWSRetry.jittered_backoff())
    group_id = module.params["replication_group_id"]

    try:
        group = describe(client, group_id)
        if module.params["state"] == "absent":
            if group is None:
                module.exit_json(changed=False)
            if group.get("Status") != "deleting" and not module.check_mode:
                client.delete_replication_group(aws_retry=True, ReplicationGroupId=group_id)
            if module.params["wait"] and not module.check_mode:
                wait_for(module, client, group_id, None)
            module.exit_json(changed=True)

        if group is None:
            changed, group = create(module, client)
        else:
            changed, group = update(module, client, group)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Managing replication group {group_id}")

    module.exit_json(
        changed=changed,
        replication_group=camel_dict_to_snake_dict(group or {}),
        primary_endpoint=primary_endpoint(group or {}),
    )


if __name__ == "__main__":
    main()
