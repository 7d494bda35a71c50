#!/usr/bin/python
"""Request (or find, or delete) an ACM certificate validated through DNS.

community.aws.acm_certificate imports certificates; it cannot request an
Amazon-issued one. This module requests one for a domain, tagged so a re-run
finds the same certificate, and returns the DNS records that validate it (the
caller writes them into Route 53 and waits for the status ISSUED).
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: acm_dns_certificate
short_description: Request an ACM certificate validated through DNS
description:
  - Finds the certificate tagged O(name) for O(domain_name), or requests one
    with DNS validation; returns its ARN, status and validation records.
  - With O(state=absent), deletes it (it must no longer be in use) and returns
    the validation records it had, so the caller can delete them too.
options:
  name:
    description: Value of the Name tag that identifies the certificate.
    type: str
    required: true
  domain_name:
    description: The domain the certificate is for.
    type: str
  subject_alternative_names:
    description: Further names the certificate covers.
    type: list
    elements: str
    default: []
  tags:
    description: Further tags.
    type: dict
    default: {}
  state:
    description: Whether the certificate should exist.
    type: str
    choices: [present, absent]
    default: present
  wait_timeout:
    description: Seconds to wait for the validation records to be published.
    type: int
    default: 120
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Request the shop's certificate
  acm_dns_certificate:
    name: bookstore-production
    domain_name: shop.example.com
  register: certificate
"""

RETURN = r"""
certificate_arn:
  description: ARN of the certificate.
  returned: when it exists
  type: str
status:
  description: ACM status (PENDING_VALIDATION, ISSUED, ...).
  returned: when it exists
  type: str
validation_records:
  description: The DNS records (name, type, value) that validate the certificate.
  returned: always
  type: list
"""

import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)

LIVE_STATUSES = ["PENDING_VALIDATION", "ISSUED", "INACTIVE"]


def find(client, name, domain_name):
    paginator = client.get_paginator("list_certificates")
    for page in paginator.paginate(CertificateStatuses=LIVE_STATUSES):
        for summary in page["CertificateSummaryList"]:
            if domain_name and summary.get("DomainName") != domain_name:
                continue
            arn = summary["CertificateArn"]
            tags = boto3_tag_list_to_ansible_dict(
                client.list_tags_for_certificate(aws_retry=True, CertificateArn=arn)["Tags"]
            )
            if tags.get("Name") == name:
                return arn
    return None


def records(certificate):
    found = []
    for option in certificate.get("DomainValidationOptions", []):
        record = option.get("ResourceRecord")
        if record and record not in found:
            found.append(record)
    return [{"name": r["Name"], "type": r["Type"], "value": r["Value"]} for r in found]


def describe(module, client, arn, want_records):
    deadline = time.time() + module.params["wait_timeout"]
    while True:
        certificate = client.describe_certificate(aws_retry=True, CertificateArn=arn)["Certificate"]
        # AWS publishes the validation records a few seconds after the request.
        if not want_records or records(certificate) or time.time() > deadline:
            return certificate
        time.sleep(5)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            domain_name=dict(type="str"),
            subject_alternative_names=dict(type="list", elements="str", default=[]),
            tags=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            wait_timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
        required_if=[("state", "present", ["domain_name"])],
    )
    p = module.params
    client = module.client("acm", retry_decorator=AWSRetry.jittered_backoff())
    try:
        arn = find(client, p["name"], p["domain_name"])
        if p["state"] == "absent":
            if arn is None:
                module.exit_json(changed=False, validation_records=[])
            certificate = describe(module, client, arn, want_records=False)
            if not module.check_mode:
                client.delete_certificate(aws_retry=True, CertificateArn=arn)
            module.exit_json(changed=True, certificate_arn=arn, validation_records=records(certificate))

        changed = False
        if arn is None:
            if module.check_mode:
                module.exit_json(changed=True, validation_records=[])
            args = dict(
                DomainName=p["domain_name"],
                ValidationMethod="DNS",
                IdempotencyToken=p["name"].replace("-", "")[:32],
                Tags=ansible_dict_to_boto3_tag_list({**p["tags"], "Name": p["name"]}),
            )
            if p["subject_alternative_names"]:
                args["SubjectAlternativeNames"] = [p["domain_name"], *p["subject_alternative_names"]]
            arn = client.request_certificate(aws_retry=True, **args)["CertificateArn"]
            changed = True
        certificate = describe(module, client, arn, want_records=True)
        module.exit_json(
            changed=changed,
            certificate_arn=arn,
            status=certificate["Status"],
            validation_records=records(certificate),
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Managing the certificate {p['name']}")


if __name__ == "__main__":
    main()
