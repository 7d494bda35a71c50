#!/usr/bin/python
"""Manage an IAM OpenID Connect identity provider.

No module of the pinned collections manages OIDC providers. This one creates
the provider for an issuer URL, keeps its audiences (client ids) and
thumbprints, and deletes it on absent.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_oidc_provider
short_description: Manage an IAM OpenID Connect identity provider
description:
  - Create, adjust or delete the IAM OIDC provider of one issuer.
options:
  url:
    description: Issuer URL, for example C(https://token.actions.githubusercontent.com).
    type: str
    required: true
  client_ids:
    description: Audiences accepted in the tokens.
    type: list
    elements: str
    default: [sts.amazonaws.com]
  thumbprints:
    description: SHA-1 thumbprints of the issuer's certificate chain.
    type: list
    elements: str
    default: []
  tags:
    description: Tags of the provider.
    type: dict
    default: {}
  state:
    description: Whether the provider should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Trust GitHub Actions' tokens
  iam_oidc_provider:
    url: https://token.actions.githubusercontent.com
"""

RETURN = r"""
arn:
  description: ARN of the provider.
  returned: when it exists
  type: str
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list


def find(client, url):
    host = url.split("://", 1)[-1].rstrip("/")
    for provider in client.list_open_id_connect_providers(aws_retry=True)["OpenIDConnectProviderList"]:
        if provider["Arn"].endswith(f":oidc-provider/{host}"):
            return provider["Arn"]
    return None


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            client_ids=dict(type="list", elements="str", default=["sts.amazonaws.com"]),
            thumbprints=dict(type="list", elements="str", default=[]),
            tags=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    client = module.client("iam", retry_decorator=AWSRetry.jittered_backoff())
    try:
        arn = find(client, p["url"])
        if p["state"] == "absent":
            if arn and not module.check_mode:
                client.delete_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=arn)
            module.exit_json(changed=bool(arn))
        if arn is None:
            if module.check_mode:
                module.exit_json(changed=True)
            arn = client.create_open_id_connect_provider(
                aws_retry=True,
                Url=p["url"],
                ClientIDList=p["client_ids"],
                ThumbprintList=p["thumbprints"],
                Tags=ansible_dict_to_boto3_tag_list(p["tags"]),
            )["OpenIDConnectProviderArn"]
            module.exit_json(changed=True, arn=arn)
        current = client.get_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=arn)
        changed = False
        have, want = set(current.get("ClientIDList", [])), set(p["client_ids"])
        for client_id in sorted(want - have):
            changed = True
            if not module.check_mode:
                client.add_client_id_to_open_id_connect_provider(
                    aws_retry=True, OpenIDConnectProviderArn=arn, ClientID=client_id
                )
        for client_id in sorted(have - want):
            changed = True
            if not module.check_mode:
                client.remove_client_id_from_open_id_connect_provider(
                    aws_retry=True, OpenIDConnectProviderArn=arn, ClientID=client_id
                )
        if p["thumbprints"] and sorted(current.get("ThumbprintList", [])) != sorted(p["thumbprints"]):
            changed = True
            if not module.check_mode:
                client.update_open_id_connect_provider_thumbprint(
                    aws_retry=True, OpenIDConnectProviderArn=arn, ThumbprintList=p["thumbprints"]
                )
        module.exit_json(changed=changed, arn=arn)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Managing the OIDC provider {p['url']}")


if __name__ == "__main__":
    main()
