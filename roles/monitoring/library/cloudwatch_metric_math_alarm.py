#!/usr/bin/python
"""Manage a CloudWatch alarm on a metric math expression.

amazon.aws.cloudwatch_metric_alarm (10.1.2) accepts metric queries but leaves
them out when it compares the stored alarm with the wanted one, so an alarm
with metrics is reported changed (and rewritten) on every run. This module
compares the metric queries too.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatch_metric_math_alarm
short_description: Manage a CloudWatch alarm on a metric math expression
description:
  - Create or update an alarm whose metric is a metric math expression over
    other metrics (for example an error rate); delete it with O(state=absent).
options:
  name:
    description: Name of the alarm.
    type: str
    required: true
  description:
    description: Description of the alarm.
    type: str
    default: ""
  metrics:
    description: The MetricDataQuery structures, in the AWS API's own (CamelCase) form.
    type: list
    elements: dict
  comparison:
    description: Comparison operator, for example C(GreaterThanThreshold).
    type: str
  threshold:
    description: Threshold the expression is compared with.
    type: float
  evaluation_periods:
    description: Periods over which the threshold is evaluated.
    type: int
    default: 1
  treat_missing_data:
    description: How missing data points are treated.
    type: str
    default: missing
  alarm_actions:
    description: ARNs notified when the alarm fires.
    type: list
    elements: str
    default: []
  ok_actions:
    description: ARNs notified when it recovers.
    type: list
    elements: str
    default: []
  state:
    description: Whether the alarm should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Alarm on the share of failed requests
  cloudwatch_metric_math_alarm:
    name: shop-error-rate
    metrics:
      - Id: rate
        Expression: 100 * errors / requests
        ReturnData: true
    comparison: GreaterThanThreshold
    threshold: 5
"""

RETURN = r"""
alarm_name:
  description: Name of the alarm.
  returned: always
  type: str
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

COMPARED = (
    "AlarmDescription",
    "Metrics",
    "ComparisonOperator",
    "Threshold",
    "EvaluationPeriods",
    "TreatMissingData",
    "AlarmActions",
    "OKActions",
)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            description=dict(type="str", default=""),
            metrics=dict(type="list", elements="dict"),
            comparison=dict(type="str"),
            threshold=dict(type="float"),
            evaluation_periods=dict(type="int", default=1),
            treat_missing_data=dict(type="str", default="missing"),
            alarm_actions=dict(type="list", elements="str", default=[]),
            ok_actions=dict(type="list", elements="str", default=[]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
        required_if=[("state", "present", ["metrics", "comparison", "threshold"])],
    )
    p = module.params
    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    try:
        found = client.describe_alarms(aws_retry=True, AlarmNames=[p["name"]])["MetricAlarms"]
        if p["state"] == "absent":
            if found and not module.check_mode:
                client.delete_alarms(aws_retry=True, AlarmNames=[p["name"]])
            module.exit_json(changed=bool(found), alarm_name=p["name"])
        wanted = dict(
            AlarmName=p["name"],
            AlarmDescription=p["description"],
            Metrics=p["metrics"],
            ComparisonOperator=p["comparison"],
            Threshold=p["threshold"],
            EvaluationPeriods=p["evaluation_periods"],
            TreatMissingData=p["treat_missing_data"],
            AlarmActions=p["alarm_actions"],
            OKActions=p["ok_actions"],
        )
        if found and all(found[0].get(key) == wanted[key] for key in COMPARED):
            module.exit_json(changed=False, alarm_name=p["name"])
        if not module.check_mode:
            client.put_metric_alarm(aws_retry=True, **wanted)
        module.exit_json(changed=True, alarm_name=p["name"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Managing the alarm {p['name']}")


if __name__ == "__main__":
    main()
