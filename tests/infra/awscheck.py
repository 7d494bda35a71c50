"""Read what the playbooks built in moto, for the assertions of the step tests."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.awsrun import Moto


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def instances(aws: Moto, environment: str) -> list[dict[str, Any]]:
    reservations = aws.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag:Environment", "Values": [environment]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    return sorted((i for r in reservations for i in r["Instances"]), key=lambda i: tags(i)["Name"])


def security_groups(aws: Moto, environment: str) -> dict[str, dict[str, Any]]:
    """The environment's security groups by role (alb, app, db, cache)."""
    groups = aws.client("ec2").describe_security_groups(Filters=[{"Name": "tag:Environment", "Values": [environment]}])[
        "SecurityGroups"
    ]
    return {g["GroupName"].rsplit("-", 1)[1]: g for g in groups}


def ingress(group: dict[str, Any]) -> list[tuple[int, int, str]]:
    """(from port, to port, source) of every ingress permission."""
    rules = []
    for p in group["IpPermissions"]:
        for r in p.get("IpRanges", []):
            rules.append((p.get("FromPort"), p.get("ToPort"), r["CidrIp"]))
        for r in p.get("Ipv6Ranges", []):
            rules.append((p.get("FromPort"), p.get("ToPort"), r["CidrIpv6"]))
        for r in p.get("UserIdGroupPairs", []):
            rules.append((p.get("FromPort"), p.get("ToPort"), r["GroupId"]))
    return sorted(rules, key=str)


def egress_allows_https(groups: list[dict[str, Any]]) -> bool:
    """Whether any of the groups lets TCP 443 out to the internet."""
    for group in groups:
        for p in group.get("IpPermissionsEgress", []):
            to_anywhere = any(r.get("CidrIp") == "0.0.0.0/0" for r in p.get("IpRanges", []))
            if not to_anywhere:
                continue
            if p.get("IpProtocol") == "-1" or (
                p.get("IpProtocol") == "tcp" and p.get("FromPort", 0) <= 443 <= p.get("ToPort", 65535)
            ):
                return True
    return False


def path_to_aws_apis(aws: Moto, instance: dict[str, Any]) -> str | None:
    """Why the instance can reach SSM and ECR (a problem, or None when it can).

    Session Manager, ECR, CloudWatch Logs and the package mirrors are HTTPS
    endpoints on the internet: the instance needs HTTPS egress in one of its
    security groups and a default route — an internet gateway with a public
    address, or a NAT gateway.
    """
    ec2 = aws.client("ec2")
    group_ids = [g["GroupId"] for g in instance["SecurityGroups"]]
    groups = ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
    if not egress_allows_https(groups):
        return f"no HTTPS egress in {[g['GroupName'] for g in groups]}"
    tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [instance["SubnetId"]]}])[
        "RouteTables"
    ]
    if not tables:
        tables = ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [instance["VpcId"]]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"]
    routes = [r for t in tables for r in t["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    if any(r.get("NatGatewayId") for r in routes):
        return None
    if any(str(r.get("GatewayId", "")).startswith("igw-") for r in routes):
        return None if instance.get("PublicIpAddress") else "internet gateway route but no public address"
    return "no default route"


def subnets(aws: Moto, environment: str) -> dict[str, dict[str, Any]]:
    found = aws.client("ec2").describe_subnets(Filters=[{"Name": "tag:Environment", "Values": [environment]}])
    return {s["SubnetId"]: s for s in found["Subnets"]}


def listeners(aws: Moto, name: str) -> dict[int, dict[str, Any]]:
    """Listeners of a load balancer by port, each with its non-default rules."""
    elb = aws.client("elbv2")
    lb = elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]
    result = {}
    for listener in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
        rules = elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        listener["Rules"] = [r for r in rules if not r["IsDefault"]]
        result[listener["Port"]] = listener
    return result


def target_groups(aws: Moto) -> dict[str, dict[str, Any]]:
    elb = aws.client("elbv2")
    groups = {}
    for group in elb.describe_target_groups()["TargetGroups"]:
        group["Attributes"] = {
            a["Key"]: a["Value"]
            for a in elb.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])["Attributes"]
        }
        group["Targets"] = sorted(
            (d["Target"]["Id"], d["Target"].get("Port"))
            for d in elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
        )
        groups[group["TargetGroupName"]] = group
    return groups


def parameters(aws: Moto, path: str) -> dict[str, dict[str, Any]]:
    pages = aws.client("ssm").get_paginator("get_parameters_by_path")
    found = [p for page in pages.paginate(Path=path, Recursive=True, WithDecryption=True) for p in page["Parameters"]]
    return {p["Name"].rsplit("/", 1)[1]: p for p in found}


def leftovers(aws: Moto) -> dict[str, list[str]]:
    """Everything a provision could have created that still exists (moto's
    own defaults — default VPC, its subnets and group, public AMI parameters —
    excluded)."""
    ec2, elb, rds = aws.client("ec2"), aws.client("elbv2"), aws.client("rds")
    cache, ssm, ecr = aws.client("elasticache"), aws.client("ssm"), aws.client("ecr")
    iam, logs = aws.client("iam"), aws.client("logs")
    s3, cloudwatch, sns = aws.client("s3"), aws.client("cloudwatch"), aws.client("sns")
    acm, route53 = aws.client("acm"), aws.client("route53")
    default_vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["IsDefault"]}
    found = {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]],
        "subnets": [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] not in default_vpcs],
        "security_groups": [
            g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"] if g["VpcId"] not in default_vpcs
        ],
        "internet_gateways": [
            g["InternetGatewayId"]
            for g in ec2.describe_internet_gateways()["InternetGateways"]
            if any(a["VpcId"] not in default_vpcs for a in g.get("Attachments", [])) or not g.get("Attachments")
        ],
        "nat_gateways": [
            n["NatGatewayId"]
            for n in ec2.describe_nat_gateways()["NatGateways"]
            if n["State"] not in ("deleted", "deleting")
        ],
        "elastic_ips": [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]],
        "instances": [
            i["InstanceId"]
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        ],
        "key_pairs": [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]],
        "load_balancers": [lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancers"]],
        "target_groups": [t["TargetGroupName"] for t in elb.describe_target_groups()["TargetGroups"]],
        "db_instances": [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]],
        "db_subnet_groups": [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]],
        "cache_replication_groups": [
            g["ReplicationGroupId"] for g in cache.describe_replication_groups()["ReplicationGroups"]
        ],
        "cache_subnet_groups": [
            g["CacheSubnetGroupName"]
            for g in cache.describe_cache_subnet_groups()["CacheSubnetGroups"]
            if g["CacheSubnetGroupName"] != "default"
        ],
        "ssm_parameters": [
            p["Name"]
            for page in ssm.get_paginator("get_parameters_by_path").paginate(Path="/bookstore", Recursive=True)
            for p in page["Parameters"]
        ],
        "ecr_repositories": [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]],
        "iam_roles": [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("bookstore")],
        "instance_profiles": [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]],
        "log_groups": [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]],
        "flow_logs": [f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"]],
        "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
        "alarms": [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]],
        "dashboards": [d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]],
        "sns_topics": [t["TopicArn"] for t in sns.list_topics()["Topics"]],
        "certificates": [c["DomainName"] for c in acm.list_certificates()["CertificateSummaryList"]],
        "dns_records": [
            r["Name"]
            for z in route53.list_hosted_zones()["HostedZones"]
            for r in route53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]
            if r["Type"] not in ("SOA", "NS")
        ],
        "db_parameter_groups": [
            g["DBParameterGroupName"]
            for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
            if not g["DBParameterGroupName"].startswith("default.")
        ],
    }
    return {kind: names for kind, names in found.items() if names}


def snapshot(aws: Moto, environment: str) -> dict[str, Any]:
    """Everything the step tests assert on, read once, so each test checks a
    recorded state and no test depends on another having run (or not) first."""
    ec2, elb, rds, iam = aws.client("ec2"), aws.client("elbv2"), aws.client("rds"), aws.client("iam")
    found: dict[str, Any] = {"environment": environment}
    found["instances"] = instances(aws, environment)
    found["paths_to_aws"] = {tags(i)["Name"]: path_to_aws_apis(aws, i) for i in found["instances"]}
    found["volumes"] = {
        i["InstanceId"]: ec2.describe_volumes(VolumeIds=[m["Ebs"]["VolumeId"] for m in i["BlockDeviceMappings"]])[
            "Volumes"
        ]
        for i in found["instances"]
    }
    found["security_groups"] = security_groups(aws, environment)
    found["subnets"] = subnets(aws, environment)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": [environment]}])["Vpcs"]
    found["vpc"] = vpcs[0] if vpcs else None
    vpc_filter = [{"Name": "vpc-id", "Values": [v["VpcId"] for v in vpcs]}]
    found["default_security_group"] = next(
        (g for g in ec2.describe_security_groups(Filters=vpc_filter)["SecurityGroups"] if g["GroupName"] == "default"),
        None,
    )
    found["route_tables"] = ec2.describe_route_tables(Filters=vpc_filter)["RouteTables"]
    found["nat_gateways"] = [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] == "available"]
    found["flow_logs"] = ec2.describe_flow_logs(
        Filters=[{"Name": "resource-id", "Values": [v["VpcId"] for v in vpcs]}]
    )["FlowLogs"]
    lbs = elb.describe_load_balancers()["LoadBalancers"]
    found["load_balancer"] = lbs[0] if lbs else None
    if lbs:
        found["load_balancer_attributes"] = {
            a["Key"]: a["Value"]
            for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Attributes"]
        }
        found["listeners"] = listeners(aws, lbs[0]["LoadBalancerName"])
    found["target_groups"] = target_groups(aws)
    found["parameters"] = parameters(aws, f"/bookstore/{environment}")
    found["db_instances"] = rds.describe_db_instances()["DBInstances"]
    found["db_parameters"] = {
        g["DBParameterGroupName"]: {
            p["ParameterName"]: p.get("ParameterValue")
            for p in rds.describe_db_parameters(DBParameterGroupName=g["DBParameterGroupName"])["Parameters"]
        }
        for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
    }
    cache = aws.client("elasticache")
    found["replication_groups"] = cache.describe_replication_groups()["ReplicationGroups"]
    found["cache_subnet_groups"] = {
        g["CacheSubnetGroupName"]: g for g in cache.describe_cache_subnet_groups()["CacheSubnetGroups"]
    }
    role = f"bookstore-{environment}-instance"
    document = iam.get_role_policy(RoleName=role, PolicyName="instance")["PolicyDocument"]
    found["instance_policy"] = json.loads(document) if isinstance(document, str) else document
    found["instance_role_managed_policies"] = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    ecr = aws.client("ecr")
    found["repositories"] = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    found["lifecycle_policies"] = {
        name: ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"] for name in found["repositories"]
    }
    found["log_groups"] = aws.client("logs").describe_log_groups(logGroupNamePrefix=f"/bookstore/{environment}")[
        "logGroups"
    ]
    s3 = aws.client("s3")
    found["buckets"] = {}
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        found["buckets"][name] = {
            "policy": json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]),
            "encryption": s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"],
            "public_access": s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"],
        }
    cloudwatch = aws.client("cloudwatch")
    found["alarms"] = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    found["dashboards"] = {
        d["DashboardName"]: json.loads(cloudwatch.get_dashboard(DashboardName=d["DashboardName"])["DashboardBody"])
        for d in cloudwatch.list_dashboards()["DashboardEntries"]
    }
    found["sns_topics"] = [t["TopicArn"] for t in aws.client("sns").list_topics()["Topics"]]
    route53 = aws.client("route53")
    found["dns_records"] = [
        r
        for z in route53.list_hosted_zones()["HostedZones"]
        for r in route53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]
        if r["Type"] not in ("SOA", "NS")
    ]
    acm = aws.client("acm")
    found["certificates"] = [
        acm.describe_certificate(CertificateArn=c["CertificateArn"])["Certificate"]
        for c in acm.list_certificates()["CertificateSummaryList"]
    ]
    return found
