#!/usr/bin/python
"""A CloudFront distribution in front of a private S3 bucket, reading it through Origin Access Control.

The pinned community.aws cloudfront_distribution module knows only the legacy
Origin Access Identity. This module keeps one Origin Access Control (SigV4,
always signing, for S3) and one distribution, both found by ``name`` (the
distribution by its comment). A distribution's configuration is compared
through a digest of the wanted configuration kept in its ``ConfigDigest``
tag: the API returns configurations with many defaults filled in (and moto
omits some fields), so comparing the digest of what was asked is what keeps a
second run from changing anything.

Deleting a distribution on AWS takes two steps: it is disabled, and can be
deleted once that change is deployed (about 15 minutes); with ``wait`` the
module waits for that.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudfront_s3_distribution
short_description: CloudFront with Origin Access Control in front of a private S3 bucket
description:
  - Create, update or delete a distribution whose only origin is an S3 bucket read through an Origin Access Control.
options:
  name:
    description: Name of the Origin Access Control and comment of the distribution (finds both).
    type: str
    required: true
  bucket_domain:
    description: The bucket's regional domain name (C(<bucket>.s3.<region>.amazonaws.com)).
    type: str
  aliases:
    description: Alternate domain names (need I(certificate_arn)).
    type: list
    elements: str
    default: []
  certificate_arn:
    description: ACM certificate in us-east-1 for the aliases; empty uses the cloudfront.net certificate.
    type: str
    default: ""
  cache_policy_id:
    description: Cache policy of the default behaviour (default the managed CachingOptimized).
    type: str
    default: 658327ea-f89d-4fab-a63d-7e88639e58f6
  price_class:
    description: Edge locations used.
    type: str
    default: PriceClass_100
  tags:
    description: Tags of the distribution.
    type: dict
    default: {}
  state:
    description: Whether the distribution should exist.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: When deleting, wait until the disabled distribution is deployed and delete it.
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Serve the covers bucket through CloudFront
  cloudfront_s3_distribution:
    name: bookstore-production-covers
    bucket_domain: bookstore-production-covers-123456789012.s3.eu-west-1.amazonaws.com
"""

RETURN = r"""
id:
  description: Distribution id.
  returned: when it exists
  type: str
arn:
  description: Distribution ARN (for the bucket policy's AWS:SourceArn condition).
  returned: when it exists
  type: str
domain_name:
  description: The distribution's cloudfront.net domain.
  returned: when it exists
  type: str
origin_access_control_id:
  description: Id of the Origin Access Control.
  returned: when it exists
  type: str
"""

import hashlib
import json

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

ORIGIN_ID = "covers-bucket"
DIGEST_TAG = "ConfigDigest"


def find_oac(client, name):
    marker = None
    while True:
        page = client.list_origin_access_controls(aws_retry=True, **({"Marker": marker} if marker else {}))
        listing = page["OriginAccessControlList"]
        for item in listing.get("Items", []) or []:
            if item["Name"] == name:
                return item["Id"]
        marker = listing.get("NextMarker")
        if not marker:
            return None


def find_distribution(client, name):
    for page in client.get_paginator("list_distributions").paginate():
        for item in page["DistributionList"].get("Items", []) or []:
            if item.get("Comment") == name:
                return item
    return None


def wanted_config(p, oac_id, caller_reference):
    aliases = sorted(p["aliases"])
    if p["certificate_arn"]:
        certificate = {
            "ACMCertificateArn": p["certificate_arn"],
            "SSLSupportMethod": "sni-only",
            "MinimumProtocolVersion": "TLSv1.2_2021",
        }
    else:
        certificate = {"CloudFrontDefaultCertificate": True, "MinimumProtocolVersion": "TLSv1.2_2021"}
    methods = {"Quantity": 2, "Items": ["GET", "HEAD"]}
    return {
        "CallerReference": caller_reference,
        "Comment": p["name"],
        "Enabled": True,
        "Aliases": {"Quantity": len(aliases), "Items": aliases} if aliases else {"Quantity": 0},
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": ORIGIN_ID,
                    "DomainName": p["bucket_domain"],
                    "OriginPath": "",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                    "OriginAccessControlId": oac_id,
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": ORIGIN_ID,
            "ViewerProtocolPolicy": "redirect-to-https",
            "AllowedMethods": {**methods, "CachedMethods": methods},
            "Compress": True,
            "CachePolicyId": p["cache_policy_id"],
        },
        "PriceClass": p["price_class"],
        "HttpVersion": "http2and3",
        "IsIPV6Enabled": True,
        "ViewerCertificate": certificate,
    }


def digest(config):
    comparable = {k: v for k, v in config.items() if k != "CallerReference"}
    return hashlib.sha256(json.dumps(comparable, sort_keys=True).encode()).hexdigest()[:16]


def tags_of(client, arn):
    found = client.list_tags_for_resource(aws_retry=True, Resource=arn)["Tags"].get("Items", []) or []
    return {t["Key"]: t["Value"] for t in found}


def present(module, client):
    p = module.params
    changed = False
    oac_id = find_oac(client, p["name"])
    if oac_id is None:
        changed = True
        if module.check_mode:
            module.exit_json(changed=True)
        oac_id = client.create_origin_access_control(
            aws_retry=True,
            OriginAccessControlConfig={
                "Name": p["name"],
                "Description": "Signs CloudFront's requests to the bucket (SigV4)",
                "SigningProtocol": "sigv4",
                "SigningBehavior": "always",
                "OriginAccessControlOriginType": "s3",
            },
        )["OriginAccessControl"]["Id"]
    found = find_distribution(client, p["name"])
    if found is None:
        config = wanted_config(p, oac_id, p["name"])
        if module.check_mode:
            module.exit_json(changed=True)
        tags = [{"Key": k, "Value": str(v)} for k, v in {**p["tags"], DIGEST_TAG: digest(config)}.items()]
        created = client.create_distribution_with_tags(
            aws_retry=True, DistributionConfigWithTags={"DistributionConfig": config, "Tags": {"Items": tags}}
        )["Distribution"]
        return True, created, oac_id
    current = client.get_distribution_config(aws_retry=True, Id=found["Id"])
    config = wanted_config(p, oac_id, current["DistributionConfig"]["CallerReference"])
    want_tags = {**{k: str(v) for k, v in p["tags"].items()}, DIGEST_TAG: digest(config)}
    have_tags = tags_of(client, found["ARN"])
    if have_tags.get(DIGEST_TAG) != want_tags[DIGEST_TAG]:
        changed = True
        if not module.check_mode:
            client.update_distribution(
                aws_retry=True, Id=found["Id"], IfMatch=current["ETag"], DistributionConfig=config
            )
    if any(have_tags.get(k) != v for k, v in want_tags.items()):
        changed = True
        if not module.check_mode:
            client.tag_resource(
                aws_retry=True,
                Resource=found["ARN"],
                Tags={"Items": [{"Key": k, "Value": v} for k, v in want_tags.items()]},
            )
    return changed, found, oac_id


def absent(module, client):
    p = module.params
    changed = False
    found = find_distribution(client, p["name"])
    if found is not None:
        changed = True
        if module.check_mode:
            module.exit_json(changed=True)
        current = client.get_distribution_config(aws_retry=True, Id=found["Id"])
        etag = current["ETag"]
        if current["DistributionConfig"]["Enabled"]:
            config = dict(current["DistributionConfig"], Enabled=False)
            etag = client.update_distribution(aws_retry=True, Id=found["Id"], IfMatch=etag, DistributionConfig=config)[
                "ETag"
            ]
        status = client.get_distribution(aws_retry=True, Id=found["Id"])["Distribution"]["Status"]
        if status != "Deployed":
            if not p["wait"]:
                module.exit_json(changed=True, msg="Disabled; delete it again once the change is deployed.")
            client.get_waiter("distribution_deployed").wait(
                Id=found["Id"], WaiterConfig={"Delay": 30, "MaxAttempts": 60}
            )
            etag = client.get_distribution(aws_retry=True, Id=found["Id"])["ETag"]
        client.delete_distribution(aws_retry=True, Id=found["Id"], IfMatch=etag)
    oac_id = find_oac(client, p["name"])
    if oac_id is not None:
        changed = True
        if not module.check_mode:
            etag = client.get_origin_access_control(aws_retry=True, Id=oac_id)["ETag"]
            client.delete_origin_access_control(aws_retry=True, Id=oac_id, IfMatch=etag)
    module.exit_json(changed=changed)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            bucket_domain=dict(type="str"),
            aliases=dict(type="list", elements="str", default=[]),
            certificate_arn=dict(type="str", default=""),
            cache_policy_id=dict(type="str", default="658327ea-f89d-4fab-a63d-7e88639e58f6"),
            price_class=dict(type="str", default="PriceClass_100"),
            tags=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            wait=dict(type="bool", default=True),
        ),
        required_if=[("state", "present", ["bucket_domain"])],
        supports_check_mode=True,
    )
    client = module.client("cloudfront", retry_decorator=AWSRetry.jittered_backoff())
    try:
        if module.params["state"] == "absent":
            absent(module, client)
        changed, distribution, oac_id = present(module, client)
        module.exit_json(
            changed=changed,
            id=distribution["Id"],
            arn=distribution["ARN"],
            domain_name=distribution["DomainName"],
            origin_access_control_id=oac_id,
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Managing the CloudFront distribution {module.params['name']}")


if __name__ == "__main__":
    main()
