"""Read what the playbooks built in moto, for the assertions of the step tests."""

from __future__ import annotations

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
    ssm = aws.client("ssm")
    found = ssm.get_parameters_by_path(Path=path, Recursive=True, WithDecryption=True)["Parameters"]
    return {p["Name"].rsplit("/", 1)[1]: p for p in found}


def leftovers(aws: Moto) -> dict[str, list[str]]:
    """Everything a provision could have created that still exists (moto's
    own defaults — default VPC, its subnets and group, public AMI parameters —
    excluded)."""
    ec2, elb, rds = aws.client("ec2"), aws.client("elbv2"), aws.client("rds")
    cache, ssm, ecr = aws.client("elasticache"), aws.client("ssm"), aws.client("ecr")
    iam, logs = aws.client("iam"), aws.client("logs")
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
            p["Name"] for p in ssm.get_parameters_by_path(Path="/bookstore", Recursive=True)["Parameters"]
        ],
        "ecr_repositories": [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]],
        "iam_roles": [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("bookstore")],
        "instance_profiles": [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]],
        "log_groups": [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]],
    }
    return {kind: names for kind, names in found.items() if names}
