#!/usr/bin/python
"""Check that every image of a release exists in ECR.

A deploy must know before it takes any host out of the load balancer that
each app's image of the release can be pulled; no module of the pinned
collections describes ECR images, so this one does, read-only.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecr_release_images
short_description: Check that every image of a release exists in ECR
description:
  - Looks each repository:tag of a release up in ECR and fails, naming the
    missing ones, unless all exist. Never changes anything.
options:
  release:
    description: The release, the image tag of each app (app name to tag).
    type: dict
    required: true
  repositories:
    description: The ECR repository of each app (app name to repository).
    type: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Check the release's images
  ecr_release_images:
    release: {api: 3f2c1e9, web: 3f2c1e9}
    repositories: {api: bookstore-api, web: bookstore-web}
"""

RETURN = r"""
digests:
  description: Image digest of each repository:tag.
  returned: success
  type: dict
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

MISSING = ("ImageNotFoundException", "RepositoryNotFoundException")


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            release=dict(type="dict", required=True),
            repositories=dict(type="dict", required=True),
        ),
        supports_check_mode=True,
    )
    client = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
    digests, missing = {}, []
    release, repositories = module.params["release"], module.params["repositories"]
    unknown = sorted(set(release) - set(repositories))
    if unknown:
        module.fail_json(msg=f"No repository for {', '.join(unknown)}")
    for app, tag in sorted(release.items()):
        image = {"repository": repositories[app], "tag": str(tag)}
        name = f"{image['repository']}:{image['tag']}"
        try:
            found = client.describe_images(
                aws_retry=True, repositoryName=image["repository"], imageIds=[{"imageTag": image["tag"]}]
            )["imageDetails"]
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] in MISSING:
                missing.append(name)
                continue
            module.fail_json_aws(e, msg=f"Looking up {name}")
        except botocore.exceptions.BotoCoreError as e:
            module.fail_json_aws(e, msg=f"Looking up {name}")
        if found:
            digests[name] = found[0]["imageDigest"]
        else:
            missing.append(name)
    if missing:
        module.fail_json(msg=f"Not in ECR, so the release cannot be deployed: {', '.join(missing)}", missing=missing)
    module.exit_json(changed=False, digests=digests)


if __name__ == "__main__":
    main()
