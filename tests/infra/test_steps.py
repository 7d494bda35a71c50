"""The three deployment steps provisioned against moto, verified, torn down.

One moto server serves the session; it is reset before each step. Each class
provisions its step once (class fixture), checks what was built, and ends by
tearing it down and asserting nothing is left. The idempotency re-run is done on
the largest step (3). The rollout logic of deploy.yml is exercised in step 2
against stand-in hosts on 127.0.0.1 (no Docker here: the container tasks are
skipped by tag; the target-group calls, settings and /readyz gate are real).
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.infra import awscheck
from tests.infra.awsrun import Moto, free_port, inventory, record, run_playbook

pytestmark = pytest.mark.infra

ALLOWED_INSTANCE_ACTIONS = {
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "kms:Decrypt",
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogStreams",
}


def provision(aws: Moto, environment: str, extra_vars: dict | None = None, what: str = "provision"):
    run = run_playbook(aws, "provision.yml", [inventory(environment)], extra_vars)
    record(environment, what, run)
    assert run.returncode == 0, run.output[-6000:]
    return run


def teardown(aws: Moto, environment: str):
    run = run_playbook(
        aws,
        "teardown.yml",
        [inventory(environment)],
        {"teardown_confirm": environment, "ecr_delete_on_teardown": True},
    )
    record(environment, "teardown", run)
    assert run.returncode == 0, run.output[-6000:]
    return run


def ssh_public_key(tmp_path: Path) -> str:
    """A throwaway OpenSSH public key (its private half is discarded)."""
    if not shutil.which("ssh-keygen"):
        return ""
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text().strip()


# ---------------------------------------------------------------- shared checks


def check_common(aws: Moto, environment: str, app_count: int) -> None:
    """What every step must have: network, instances, IAM, secrets, ECR, logs."""
    subnets = awscheck.subnets(aws, environment)
    public = [s for s in subnets.values() if awscheck.tags(s)["Tier"] == "public"]
    private = [s for s in subnets.values() if awscheck.tags(s)["Tier"] == "private"]
    assert len(public) == 2 and len(private) == 2
    assert len({s["AvailabilityZone"] for s in public}) == 2, "two availability zones"

    instances = awscheck.instances(aws, environment)
    apps = [i for i in instances if "app" in awscheck.tags(i)["Role"].split("-")]
    assert len(apps) == app_count
    ec2 = aws.client("ec2")
    for instance in instances:
        assert instance["MetadataOptions"]["HttpTokens"] == "required", "IMDSv2 required"
        assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
        assert instance["IamInstanceProfile"]["Arn"].endswith(f"bookstore-{environment}-instance")
        volume_ids = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
        volumes = ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]
        assert volumes and all(v["Encrypted"] for v in volumes), "encrypted volumes"

    iam = aws.client("iam")
    role = f"bookstore-{environment}-instance"
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    document = iam.get_role_policy(RoleName=role, PolicyName="instance")["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    actions = set()
    for statement in document["Statement"]:
        actions |= set([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    assert actions <= ALLOWED_INSTANCE_ACTIONS, actions - ALLOWED_INSTANCE_ACTIONS

    params = awscheck.parameters(aws, f"/bookstore/{environment}")
    for secret in ("db_password", "redis_auth_token", "session_secret"):
        assert params[secret]["Type"] == "SecureString"
        assert len(params[secret]["Value"]) >= 32

    ecr = aws.client("ecr")
    repos = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    assert set(repos) == {"bookstore-api", "bookstore-web"}
    for name, repo in repos.items():
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"]["scanOnPush"] is True
        assert ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]

    groups = aws.client("logs").describe_log_groups(logGroupNamePrefix=f"/bookstore/{environment}")["logGroups"]
    assert groups and groups[0]["retentionInDays"] == 30

    for group in awscheck.security_groups(aws, environment).values():
        for low, high, _source in awscheck.ingress(group):
            assert not (low is None or low <= 22 <= high), f"{group['GroupName']} opens SSH"


def check_load_balancer(aws: Moto, environment: str, app_count: int, https: bool) -> None:
    groups = awscheck.security_groups(aws, environment)
    alb, app, db, cache = (
        groups["alb"]["GroupId"],
        groups["app"]["GroupId"],
        groups["db"]["GroupId"],
        groups["cache"]["GroupId"],
    )
    assert awscheck.ingress(groups["alb"]) == [(443, 443, "0.0.0.0/0"), (80, 80, "0.0.0.0/0")]
    assert awscheck.ingress(groups["app"]) == [(8001, 8001, alb), (8002, 8002, alb)], "app ports from the ALB only"
    assert awscheck.ingress(groups["db"]) == [(5432, 5432, app)], "PostgreSQL from the app group only"
    assert awscheck.ingress(groups["cache"]) == [(6379, 6379, app)], "Redis from the app group only"
    assert groups["db"]["IpPermissionsEgress"] == [] and groups["cache"]["IpPermissionsEgress"] == []
    assert {db, cache}.isdisjoint({app, alb})

    elb = aws.client("elbv2")
    lb = elb.describe_load_balancers(Names=[f"bookstore-{environment}"])["LoadBalancers"][0]
    assert lb["Scheme"] == "internet-facing" and lb["SecurityGroups"] == [alb]
    public = {s for s, v in awscheck.subnets(aws, environment).items() if awscheck.tags(v)["Tier"] == "public"}
    assert {z["SubnetId"] for z in lb["AvailabilityZones"]} == public
    attributes = {
        a["Key"]: a["Value"]
        for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]
    }
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"

    tgs = awscheck.target_groups(aws)
    api, web = tgs[f"bookstore-{environment}-api"], tgs[f"bookstore-{environment}-web"]
    for group, port in ((api, 8001), (web, 8002)):
        assert group["Port"] == port and group["HealthCheckPath"] == "/healthz"
        assert group["Matcher"]["HttpCode"] == "200"
        assert group["Attributes"]["deregistration_delay.timeout_seconds"] == "30"
        assert group["Targets"] == [], "hosts join the load balancer only through deploy.yml"

    listeners = awscheck.listeners(aws, f"bookstore-{environment}")
    routed = listeners[443] if https else listeners[80]
    assert routed["DefaultActions"][0]["TargetGroupArn"] == web["TargetGroupArn"], "everything else → web"
    [rule] = routed["Rules"]
    assert rule["Conditions"][0]["Values"] == ["/api/*"] or rule["Conditions"][0]["PathPatternConfig"]["Values"] == [
        "/api/*"
    ]
    assert rule["Actions"][0]["TargetGroupArn"] == api["TargetGroupArn"], "/api/* → api"
    if https:
        assert set(listeners) == {80, 443}
        redirect = listeners[80]["DefaultActions"][0]
        assert redirect["Type"] == "redirect"
        assert (
            redirect["RedirectConfig"]["Protocol"] == "HTTPS" and redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
        )
        assert listeners[443]["Certificates"]
    else:
        assert set(listeners) == {80}


def check_teardown(aws: Moto, environment: str) -> None:
    teardown(aws, environment)
    assert awscheck.leftovers(aws) == {}


# ---------------------------------------------------------------- step 1


@pytest.fixture(scope="class")
def dev(aws):
    aws.reset()
    provision(aws, "dev")
    return aws


class TestStep1SingleHost:
    def test_network_instances_and_secrets(self, dev):
        check_common(dev, "dev", app_count=1)

    def test_single_public_host_runs_everything(self, dev):
        [host] = awscheck.instances(dev, "dev")
        assert awscheck.tags(host)["Role"] == "app-data"
        subnet = awscheck.subnets(dev, "dev")[host["SubnetId"]]
        assert awscheck.tags(subnet)["Tier"] == "public" and host.get("PublicIpAddress")
        groups = awscheck.security_groups(dev, "dev")
        assert set(groups) == {"app"}
        assert awscheck.ingress(groups["app"]) == [(80, 80, "0.0.0.0/0"), (8001, 8001, "0.0.0.0/0")]
        params = awscheck.parameters(dev, "/bookstore/dev")
        assert params["database_host"]["Value"] == "bookstore-postgres"
        assert params["redis_host"]["Value"] == "bookstore-redis"

    def test_no_load_balancer_nat_or_managed_data(self, dev):
        assert dev.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
        assert dev.client("rds").describe_db_instances()["DBInstances"] == []
        assert dev.client("elasticache").describe_replication_groups()["ReplicationGroups"] == []
        assert [n for n in dev.client("ec2").describe_nat_gateways()["NatGateways"] if n["State"] == "available"] == []

    def test_teardown_needs_confirmation(self, dev):
        run = run_playbook(dev, "teardown.yml", [inventory("dev")])
        assert run.returncode != 0 and "teardown_confirm=dev" in run.output
        assert awscheck.instances(dev, "dev"), "nothing was deleted"

    def test_teardown_leaves_nothing(self, dev):
        check_teardown(dev, "dev")


# ---------------------------------------------------------------- step 2


@pytest.fixture(scope="class")
def staging(aws):
    aws.reset()
    # Three app hosts so a rollout can show a host that comes after a failure.
    provision(aws, "staging", {"compute_app_count": 3})
    return aws


class ReadyzServers:
    """/readyz stand-ins on 127.0.0.1: 200 everywhere except the failing ports."""

    def __init__(self, ports: list[int], failing: set[int]):
        handler = self._handler(failing)
        self.servers = [http.server.ThreadingHTTPServer(("127.0.0.1", p), handler) for p in ports]
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @staticmethod
    def _handler(failing: set[int]):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status = 503 if self.server.server_port in failing else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        return Handler

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="class")
def app_hosts(staging, tmp_path_factory):
    """Stand-ins for the three app hosts: local connection, the moto instance ids,
    their own /readyz ports (app-2's release never gets ready) and folders; all
    registered in both target groups as if serving the previous release."""
    root = tmp_path_factory.mktemp("hosts")
    instances = {awscheck.tags(i)["Name"]: i["InstanceId"] for i in awscheck.instances(staging, "staging")}
    ports = {n: (free_port(), free_port()) for n in (1, 2, 3)}
    hosts = {}
    for n, (api_port, web_port) in ports.items():
        hosts[f"app-{n}"] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_become": False,
            "instance_id": instances[f"bookstore-staging-app-{n}"],
            "app_deploy_api_port": api_port,
            "app_deploy_web_port": web_port,
            "app_deploy_config_dir": str(root / f"app-{n}" / "etc"),
            "app_deploy_docker_config_dir": str(root / f"app-{n}" / "docker"),
            "app_deploy_readyz_retries": 2,
            "app_deploy_readyz_delay": 1,
        }
    path = root / "hosts.yml"
    path.write_text(json.dumps({"all": {"children": {"bookstore_app": {"hosts": hosts}}}}))
    servers = ReadyzServers([p for pair in ports.values() for p in pair], failing=set(ports[2]))
    elb = staging.client("elbv2")
    for name, group in awscheck.target_groups(staging).items():
        kind = name.rsplit("-", 1)[1]
        elb.register_targets(
            TargetGroupArn=group["TargetGroupArn"],
            Targets=[{"Id": h["instance_id"], "Port": h[f"app_deploy_{kind}_port"]} for h in hosts.values()],
        )
    yield {"inventory": path, "hosts": hosts}
    servers.close()


def registered(aws: Moto) -> dict[str, list[tuple[str, int]]]:
    return {name.rsplit("-", 1)[1]: group["Targets"] for name, group in awscheck.target_groups(aws).items()}


def expected_targets(hosts: dict, names: list[str]) -> dict[str, list[tuple[str, int]]]:
    return {
        kind: sorted((hosts[n]["instance_id"], hosts[n][f"app_deploy_{kind}_port"]) for n in names)
        for kind in ("api", "web")
    }


@pytest.fixture(scope="class")
def rollout(staging, app_hosts):
    run = run_playbook(
        staging,
        "deploy.yml",
        [inventory("staging"), app_hosts["inventory"]],
        {"app_deploy_image_tag": "3f2c1e9"},
        ["--skip-tags", "app_containers"],
    )
    record("staging", "deploy (3 hosts)", run)
    return run


class TestStep2LoadBalanced:
    def test_network_instances_and_secrets(self, staging):
        check_common(staging, "staging", app_count=3)

    def test_load_balancer_rules_health_checks_and_groups(self, staging):
        check_load_balancer(staging, "staging", app_count=3, https=False)

    def test_data_host_is_reachable_from_the_apps_only(self, staging):
        instances = awscheck.instances(staging, "staging")
        [data] = [i for i in instances if awscheck.tags(i)["Role"] == "data"]
        groups = awscheck.security_groups(staging, "staging")
        assert {g["GroupId"] for g in data["SecurityGroups"]} == {groups["db"]["GroupId"], groups["cache"]["GroupId"]}
        apps = [i for i in instances if awscheck.tags(i)["Role"] == "app"]
        assert len({i["Placement"]["AvailabilityZone"] for i in apps}) == 2, "apps spread over two zones"
        params = awscheck.parameters(staging, "/bookstore/staging")
        assert params["database_host"]["Value"] == data["PrivateIpAddress"]
        assert params["redis_tls"]["Value"] == "false"

    def test_deploy_in_check_mode_changes_nothing(self, staging, app_hosts):
        before = registered(staging)
        run = run_playbook(
            staging,
            "deploy.yml",
            [inventory("staging"), app_hosts["inventory"]],
            {"app_deploy_image_tag": "3f2c1e9"},
            ["--check", "--limit", "app-1", "--skip-tags", "app_containers"],
        )
        record("staging", "deploy --check", run)
        assert run.returncode == 0, run.output[-6000:]
        assert registered(staging) == before
        for host in app_hosts["hosts"].values():
            assert not Path(host["app_deploy_config_dir"]).exists()

    def test_deploy_refuses_a_moving_tag_before_touching_the_load_balancer(self, staging, app_hosts):
        before = registered(staging)
        run = run_playbook(
            staging,
            "deploy.yml",
            [inventory("staging"), app_hosts["inventory"]],
            {"app_deploy_image_tag": "latest"},
            ["--skip-tags", "app_containers"],
        )
        assert run.returncode != 0 and "immutable tag of the release" in run.output
        assert registered(staging) == before

    def test_rollout_is_serial_and_stops_at_the_failing_host(self, rollout):
        assert rollout.returncode != 0
        recap = rollout.recap()
        assert recap["app-1"]["failed"] == 0
        assert recap["app-2"]["failed"] == 1
        assert "app-3" not in recap, "hosts after a failure are never touched"
        order = [line for line in rollout.output.splitlines() if line.startswith(("changed: [app-", "ok: [app-"))]
        hosts_in_order = list(dict.fromkeys(line.split("[")[1].split("]")[0].split(" ")[0] for line in order))
        assert hosts_in_order == ["app-1", "app-2"]

    def test_failing_host_stays_out_and_the_others_keep_serving(self, staging, app_hosts, rollout):
        assert registered(staging) == expected_targets(app_hosts["hosts"], ["app-1", "app-3"])

    def test_release_settings_come_from_ssm_and_stay_private(self, staging, app_hosts, rollout):
        params = awscheck.parameters(staging, "/bookstore/staging")
        etc = Path(app_hosts["hosts"]["app-1"]["app_deploy_config_dir"])
        api_env = (etc / "api.env").read_text()
        web_env = (etc / "web.env").read_text()
        assert (etc / "api.env").stat().st_mode & 0o777 == 0o600
        assert (etc / "web.env").stat().st_mode & 0o777 == 0o600
        host = params["database_host"]["Value"]
        assert (
            f"BOOKSTORE_DATABASE_URL=postgresql://bookstore:{params['db_password']['Value']}@{host}:5432/bookstore"
            in api_env
        )
        assert f"BOOKSTORE_REDIS_URL=redis://:{params['redis_auth_token']['Value']}@{host}:6379/0" in api_env
        assert f"BOOKSTORE_SESSION_SECRET={params['session_secret']['Value']}" in web_env
        assert "BOOKSTORE_API_URL=http://bookstore-api:8000" in web_env
        docker = json.loads(
            (Path(app_hosts["hosts"]["app-1"]["app_deploy_docker_config_dir"]) / "config.json").read_text()
        )
        assert docker == {"credHelpers": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": "ecr-login"}}
        assert not Path(app_hosts["hosts"]["app-3"]["app_deploy_config_dir"]).exists()
        for secret in ("db_password", "redis_auth_token", "session_secret"):
            assert params[secret]["Value"] not in rollout.output, "secrets never printed"

    def test_teardown_leaves_nothing(self, staging):
        check_teardown(staging, "staging")


# ---------------------------------------------------------------- step 3


@pytest.fixture(scope="class")
def production(aws, tmp_path_factory):
    aws.reset()
    certificate = aws.client("acm").request_certificate(DomainName="shop.example.com")["CertificateArn"]
    extra = {
        "data_rds_storage_type": "gp2",
        "alb_certificate_arn": certificate,
        "compute_ssh_public_key": ssh_public_key(tmp_path_factory.mktemp("ssh")),
    }
    provision(aws, "production", extra)
    return aws, extra


class TestStep3ManagedData:
    def test_rerun_changes_nothing(self, production):
        aws, extra = production
        run = provision(aws, "production", extra, what="provision re-run")
        assert run.recap()["localhost"]["changed"] == 0, run.output[-6000:]

    def test_network_instances_and_secrets(self, production):
        check_common(production[0], "production", app_count=3)

    def test_load_balancer_https_rules_health_checks_and_groups(self, production):
        check_load_balancer(production[0], "production", app_count=3, https=True)

    def test_apps_in_private_subnets_behind_a_nat_gateway(self, production):
        aws = production[0]
        subnets = awscheck.subnets(aws, "production")
        for instance in awscheck.instances(aws, "production"):
            assert awscheck.tags(subnets[instance["SubnetId"]])["Tier"] == "private"
            assert not instance.get("PublicIpAddress")
            assert instance.get("KeyName") == "bookstore-production"
        [nat] = [n for n in aws.client("ec2").describe_nat_gateways()["NatGateways"] if n["State"] == "available"]
        assert awscheck.tags(subnets[nat["SubnetId"]])["Tier"] == "public"
        private_ids = [s for s, v in subnets.items() if awscheck.tags(v)["Tier"] == "private"]
        tables = aws.client("ec2").describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": private_ids}]
        )["RouteTables"]
        assert len(tables) == 1
        assert any(r.get("NatGatewayId") == nat["NatGatewayId"] for r in tables[0]["Routes"])

    def test_database_private_encrypted_backed_up_protected(self, production):
        aws = production[0]
        groups = awscheck.security_groups(aws, "production")
        [db] = aws.client("rds").describe_db_instances()["DBInstances"]
        assert db["Engine"] == "postgres"
        assert db["PubliclyAccessible"] is False
        assert db["StorageEncrypted"] is True
        assert db["MultiAZ"] is True
        assert db["BackupRetentionPeriod"] == 14
        assert db["DeletionProtection"] is True
        assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [groups["db"]["GroupId"]]
        private = {s for s, v in awscheck.subnets(aws, "production").items() if awscheck.tags(v)["Tier"] == "private"}
        assert {s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]} == private

    def test_redis_private_encrypted_with_auth(self, production):
        aws = production[0]
        cache = aws.client("elasticache")
        [group] = cache.describe_replication_groups()["ReplicationGroups"]
        assert group["AtRestEncryptionEnabled"] is True
        assert group["TransitEncryptionEnabled"] is True
        assert group["AuthTokenEnabled"] is True
        assert group["MultiAZ"] == "enabled" and group["AutomaticFailover"] == "enabled"
        [subnet_group] = cache.describe_cache_subnet_groups(CacheSubnetGroupName="bookstore-production")[
            "CacheSubnetGroups"
        ]
        private = {s for s, v in awscheck.subnets(aws, "production").items() if awscheck.tags(v)["Tier"] == "private"}
        assert {s["SubnetIdentifier"] for s in subnet_group["Subnets"]} == private
        params = awscheck.parameters(aws, "/bookstore/production")
        assert params["redis_tls"]["Value"] == "true"
        assert params["redis_host"]["Value"] == group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
        [db] = aws.client("rds").describe_db_instances()["DBInstances"]
        assert params["database_host"]["Value"] == db["Endpoint"]["Address"]

    def test_teardown_leaves_nothing_but_the_final_snapshot(self, production):
        aws = production[0]
        check_teardown(aws, "production")
        snapshots = aws.client("rds").describe_db_snapshots()["DBSnapshots"]
        assert [s["DBSnapshotIdentifier"].startswith("bookstore-production-final-") for s in snapshots] == [True]
