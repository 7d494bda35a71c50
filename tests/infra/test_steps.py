"""The three deployment steps provisioned against moto, re-run, deployed, torn down.

One moto server serves the session; each class's fixture resets it and drives
its environment's whole life once — provision, re-provision with a new machine
image (nothing may change), deploys, status, teardown — recording what it saw
(awscheck.snapshot) and every run. The tests assert on those records only, so
they pass in any order and each class stands alone.

Deploys run against stand-in app hosts on 127.0.0.1 (no Docker here: the
container tasks are skipped by tag; the release manifest, the ECR check, the
target-group calls, the settings, the /readyz gate and the rollback are real).
Every run has a control node whose sudo fails (see awsrun).
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.infra import awscheck
from tests.infra.awsrun import Moto, PlaybookRun, free_port, inventory, record, run_playbook

# Each class fixture drives a whole environment life (several minutes on 2 cores).
pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

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


def teardown(aws: Moto, environment: str, extra_vars: dict | None = None):
    run = run_playbook(
        aws,
        "teardown.yml",
        [inventory(environment)],
        {"teardown_confirm": environment, **(extra_vars or {})},
    )
    record(environment, "teardown", run)
    assert run.returncode == 0, run.output[-6000:]
    return run


def ssh_public_key(tmp_path: Path) -> str:
    """A throwaway OpenSSH public key (its private half is discarded)."""
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text().strip()


def other_image(aws: Moto, environment: str) -> str:
    """An Amazon machine image the environment's instances do not run (a newer AL2023, say)."""
    running = {i["ImageId"] for i in awscheck.instances(aws, environment)}
    images = aws.client("ec2").describe_images(Owners=["amazon"])["Images"]
    return next(i["ImageId"] for i in images if i["ImageId"] not in running)


def reprovision_changes_nothing(aws: Moto, environment: str, extra_vars: dict) -> PlaybookRun:
    """Provision again as AWS would see it weeks later: a new Amazon Linux image
    published (compute_image_id differs) and RDS reporting its full engine
    version (the moto launcher does). Nothing may be launched, replaced or
    modified."""
    before = {awscheck.tags(i)["Name"]: i["InstanceId"] for i in awscheck.instances(aws, environment)}
    databases = [d["DBInstanceIdentifier"] for d in aws.client("rds").describe_db_instances()["DBInstances"]]
    run = provision(
        aws, environment, {**extra_vars, "compute_image_id": other_image(aws, environment)}, "re-run, new image"
    )
    after = {awscheck.tags(i)["Name"]: i["InstanceId"] for i in awscheck.instances(aws, environment)}
    assert after == before, "no instance launched or replaced"
    assert [d["DBInstanceIdentifier"] for d in aws.client("rds").describe_db_instances()["DBInstances"]] == databases
    assert run.recap()["localhost"]["changed"] == 0, [
        line for line in run.output.splitlines() if line.startswith("changed:") or line.startswith("TASK")
    ]
    return run


def push_images(aws: Moto, tag: str, apps: tuple[str, ...] = ("api", "web")) -> None:
    """Publish images of the release in ECR (manifests only: moto has no registry)."""
    ecr = aws.client("ecr")
    for app in apps:
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1,
                "digest": f"sha256:{tag:0<64}",
            },
            "layers": [],
        }
        ecr.put_image(repositoryName=f"bookstore-{app}", imageManifest=json.dumps(manifest), imageTag=tag)


def route53_zone(aws: Moto, name: str) -> str:
    return aws.client("route53").create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"]


# ---------------------------------------------------------------- stand-in app hosts


class ReadyzServers:
    """/readyz stand-ins on 127.0.0.1, one per (host, app). A host answers 503
    while its release file names a tag listed as broken for it, 200 otherwise —
    as the containers of a broken release would."""

    def __init__(self, hosts: dict[str, dict], broken: dict[str, set[str]]):
        self.servers = []
        for name, host in hosts.items():
            release_file = Path(host["app_deploy_config_dir"]) / "release.json"
            for app in ("api", "web"):
                handler = self._handler(release_file, app, broken.get(name, set()))
                server = http.server.ThreadingHTTPServer(("127.0.0.1", host[f"app_deploy_{app}_port"]), handler)
                threading.Thread(target=server.serve_forever, daemon=True).start()
                self.servers.append(server)

    @staticmethod
    def _handler(release_file: Path, app: str, broken: set[str]):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                release = json.loads(release_file.read_text()) if release_file.exists() else {}
                self.send_response(503 if release.get(app) in broken else 200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        return Handler

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def stand_in_hosts(aws: Moto, environment: str, root: Path) -> dict[str, dict]:
    """Host variables making each app instance a local stand-in on its own ports."""
    hosts = {}
    for instance in awscheck.instances(aws, environment):
        name = awscheck.tags(instance)["Name"]
        if "app" not in awscheck.tags(instance)["Role"].split("-"):
            continue
        short = name.rsplit("-", 2)[-2] + "-" + name.rsplit("-", 1)[-1]
        hosts[short] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_become": False,
            "instance_id": instance["InstanceId"],
            "app_deploy_api_port": free_port(),
            "app_deploy_web_port": free_port(),
            "app_deploy_config_dir": str(root / short / "etc"),
            "app_deploy_docker_config_dir": str(root / short / "docker"),
            "app_deploy_readyz_retries": 2,
            "app_deploy_readyz_delay": 1,
            "app_deploy_drain_timeout": 5,
            "app_deploy_healthy_timeout": 5,
        }
    return hosts


def write_inventory(root: Path, hosts: dict[str, dict], extra: dict | None = None) -> Path:
    path = root / "hosts.yml"
    data = {"all": {"children": {"bookstore_app": {"hosts": hosts}}}}
    if extra:
        data["all"]["vars"] = extra
    path.write_text(json.dumps(data))
    return path


def registered(aws: Moto) -> dict[str, list[tuple[str, int]]]:
    return {name.rsplit("-", 1)[1]: group["Targets"] for name, group in awscheck.target_groups(aws).items()}


def expected_targets(hosts: dict, names: list[str]) -> dict[str, list[tuple[str, int]]]:
    return {
        kind: sorted((hosts[n]["instance_id"], hosts[n][f"app_deploy_{kind}_port"]) for n in names)
        for kind in ("api", "web")
    }


def deploy(aws: Moto, environment: str, hosts_inventory: Path, tag: str, apps=("api", "web"), args=(), what="deploy"):
    run = run_playbook(
        aws,
        "deploy.yml",
        [inventory(environment), hosts_inventory],
        {"app_deploy_image_tag": tag, "app_deploy_apps": list(apps)},
        ["--skip-tags", "app_containers", *args],
    )
    record(environment, what, run)
    return run


def recorded_release(aws: Moto, environment: str) -> dict | None:
    found = awscheck.parameters(aws, f"/bookstore/{environment}").get("release")
    return json.loads(found["Value"]) if found else None


def host_release(host: dict) -> dict | None:
    path = Path(host["app_deploy_config_dir"]) / "release.json"
    return json.loads(path.read_text()) if path.exists() else None


class Life:
    """What one environment's life recorded: runs, snapshots, releases."""

    def __init__(self, environment: str):
        self.environment = environment
        self.runs: dict[str, PlaybookRun] = {}
        self.facts: dict[str, object] = {}
        self.state: dict = {}
        self.leftovers: dict = {}


# ---------------------------------------------------------------- shared checks


def check_common(state: dict, app_count: int) -> None:
    """What every step must have: network, instances, IAM, secrets, ECR, logs."""
    subnets = state["subnets"]
    public = [s for s in subnets.values() if awscheck.tags(s)["Tier"] == "public"]
    private = [s for s in subnets.values() if awscheck.tags(s)["Tier"] == "private"]
    assert len(public) == 2 and len(private) == 2
    assert len({s["AvailabilityZone"] for s in public}) == 2, "two availability zones"

    apps = [i for i in state["instances"] if "app" in awscheck.tags(i)["Role"].split("-")]
    assert len(apps) == app_count
    for instance in state["instances"]:
        assert instance["MetadataOptions"]["HttpTokens"] == "required", "IMDSv2 required"
        assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
        assert instance["IamInstanceProfile"]["Arn"].endswith(f"bookstore-{state['environment']}-instance")
        assert instance.get("KeyName") == f"bookstore-{state['environment']}", "Ansible's SSH key over SSM"
        volumes = state["volumes"][instance["InstanceId"]]
        assert volumes and all(v["Encrypted"] for v in volumes), "encrypted volumes"

    assert state["instance_role_managed_policies"] == []
    actions = set()
    for statement in state["instance_policy"]["Statement"]:
        actions |= set([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    assert actions <= ALLOWED_INSTANCE_ACTIONS, actions - ALLOWED_INSTANCE_ACTIONS

    params = state["parameters"]
    for secret in ("db_password", "db_app_password", "redis_auth_token", "session_secret", "webhook_secret_key"):
        assert params[secret]["Type"] == "SecureString"
        assert len(params[secret]["Value"]) >= 32
    assert params["database_app_user"]["Value"] != params["database_user"]["Value"], "apps never use the owner"

    repos = state["repositories"]
    assert set(repos) == {"bookstore-api", "bookstore-web"}
    for name, repo in repos.items():
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"]["scanOnPush"] is True
        assert state["lifecycle_policies"][name]

    assert state["log_groups"] and state["log_groups"][0]["retentionInDays"] == 30

    for group in state["security_groups"].values():
        for low, high, _source in awscheck.ingress(group):
            assert not (low is None or low <= 22 <= high), f"{group['GroupName']} opens SSH"

    default = state["default_security_group"]
    assert default["IpPermissions"] == [] and default["IpPermissionsEgress"] == [], "default group has no rules"
    [bucket_name] = [b for b in state["buckets"] if b.startswith(f"bookstore-{state['environment']}-logs-")]
    bucket = state["buckets"][bucket_name]
    assert all(bucket["public_access"].values()), "log bucket blocks public access"
    assert bucket["encryption"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in bucket["policy"]["Statement"])
    [flow_log] = state["flow_logs"]
    assert flow_log["TrafficType"] == "ALL" and flow_log["LogDestination"] == f"arn:aws:s3:::{bucket_name}"


def check_every_instance_reaches_ssm_and_ecr(state: dict) -> None:
    assert state["paths_to_aws"], "instances were checked"
    assert {name: problem for name, problem in state["paths_to_aws"].items() if problem} == {}


def check_load_balancer(state: dict) -> None:
    environment = state["environment"]
    groups = state["security_groups"]
    alb = groups["alb"]["GroupId"]
    assert awscheck.ingress(groups["alb"]) == [(443, 443, "0.0.0.0/0"), (80, 80, "0.0.0.0/0")]
    assert awscheck.ingress(groups["app"]) == [(8001, 8001, alb), (8002, 8002, alb)], "app ports from the ALB only"

    lb = state["load_balancer"]
    assert lb["Scheme"] == "internet-facing" and lb["SecurityGroups"] == [alb]
    public = {s for s, v in state["subnets"].items() if awscheck.tags(v)["Tier"] == "public"}
    assert {z["SubnetId"] for z in lb["AvailabilityZones"]} == public
    attributes = state["load_balancer_attributes"]
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"].startswith(f"bookstore-{environment}-logs-")
    assert attributes["deletion_protection.enabled"] == ("true" if environment == "production" else "false")

    tgs = state["target_groups"]
    api, web = tgs[f"bookstore-{environment}-api"], tgs[f"bookstore-{environment}-web"]
    for group, port in ((api, 8001), (web, 8002)):
        assert group["Port"] == port and group["HealthCheckPath"] == "/healthz"
        assert group["Matcher"]["HttpCode"] == "200"
        assert group["Attributes"]["deregistration_delay.timeout_seconds"] == "30"

    listeners = state["listeners"]
    assert set(listeners) == {80, 443}, "HTTPS, and HTTP only to redirect"
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS" and redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    assert listeners[80]["Rules"] == []
    https = listeners[443]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-")
    assert https["Certificates"][0]["CertificateArn"].startswith("arn:aws:acm:")
    assert https["DefaultActions"][0]["TargetGroupArn"] == web["TargetGroupArn"], "everything else → web"
    [rule] = https["Rules"]
    condition = rule["Conditions"][0]
    assert condition.get("Values") == ["/api/*"] or condition["PathPatternConfig"]["Values"] == ["/api/*"]
    assert rule["Actions"][0]["TargetGroupArn"] == api["TargetGroupArn"], "/api/* → api"


def check_alarms(state: dict, managed_data: bool) -> None:
    environment = state["environment"]
    prefix = f"bookstore-{environment}-"
    names = {n[len(prefix) :] for n in state["alarms"] if n.startswith(prefix)}
    expected = {"alb-5xx-rate", "alb-p99-response-time", "api-unhealthy-targets", "web-unhealthy-targets"}
    if managed_data:
        expected |= {"rds-cpu", "rds-free-storage", "rds-connections", "redis-memory-001", "redis-evictions-001"}
    assert expected <= names, expected - names
    [topic] = [t for t in state["sns_topics"] if t.endswith(f":bookstore-{environment}-alarms")]
    for alarm in state["alarms"].values():
        assert alarm["AlarmActions"] == [topic]
    rate = state["alarms"][prefix + "alb-5xx-rate"]
    assert any("requests" in (m.get("Expression") or "") for m in rate["Metrics"]), "a rate, not a count"
    assert state["alarms"][prefix + "alb-p99-response-time"]["ExtendedStatistic"] == "p99"
    widgets = state["dashboards"][f"bookstore-{environment}"]["widgets"]
    assert len(widgets) == (6 if managed_data else 3)


def check_settings(life: Life, host: dict, database_tls: bool) -> None:
    params = life.state["parameters"]
    etc = Path(host["app_deploy_config_dir"])
    api_env, web_env, migrate_env = ((etc / f"{n}.env").read_text() for n in ("api", "web", "migrate"))
    for name in ("api", "web", "migrate"):
        assert (etc / f"{name}.env").stat().st_mode & 0o777 == 0o600
    db_host = params["database_host"]["Value"]
    options = "?sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds-global-bundle.pem" if database_tls else ""
    app_url = f"postgresql://bookstore_app:{params['db_app_password']['Value']}@{db_host}:5432/bookstore{options}"
    owner_url = f"postgresql://bookstore:{params['db_password']['Value']}@{db_host}:5432/bookstore{options}"
    assert f"BOOKSTORE_DATABASE_URL={app_url}\n" in api_env, "the apps' own user"
    assert f"BOOKSTORE_DATABASE_URL={owner_url}\n" in migrate_env, "migrations as the owner"
    assert params["db_password"]["Value"] not in api_env + web_env, "the owner's password stays with migrations"
    scheme = "rediss" if database_tls else "redis"
    redis_url = (
        f"BOOKSTORE_REDIS_URL={scheme}://:{params['redis_auth_token']['Value']}@{params['redis_host']['Value']}:6379/0"
    )
    assert redis_url in api_env and redis_url in web_env
    assert f"BOOKSTORE_SESSION_SECRET={params['session_secret']['Value']}" in web_env
    # webhooks can be created and delivered in every deployed environment (production refuses without a key)
    assert f"BOOKSTORE_WEBHOOK_SECRET_KEY={params['webhook_secret_key']['Value']}\n" in api_env
    assert params["webhook_secret_key"]["Value"] not in web_env, "the storefront never holds it"
    assert "BOOKSTORE_SECURE_COOKIES=" + ("true" if life.environment != "dev" else "false") in web_env
    if database_tls:
        assert "PGSSLMODE=verify-full" in migrate_env
        assert (etc / "rds-ca-bundle.pem").read_text() == life.facts["ca_bundle"]
    docker = json.loads((Path(host["app_deploy_docker_config_dir"]) / "config.json").read_text())
    assert docker == {"credHelpers": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": "ecr-login"}}
    for run in life.runs.values():
        for secret in ("db_password", "db_app_password", "redis_auth_token", "session_secret", "webhook_secret_key"):
            assert params[secret]["Value"] not in run.output, "secrets never printed"


def check_teardown_leaves_only_ecr(life: Life) -> None:
    assert life.runs["teardown"].returncode == 0, life.runs["teardown"].output[-6000:]
    leftovers = dict(life.leftovers)
    assert sorted(leftovers.pop("ecr_repositories")) == ["bookstore-api", "bookstore-web"], "shared repositories stay"
    assert leftovers == {}


def live(aws: Moto, environment: str, extra: dict, root: Path, scenario) -> Life:
    """Provision, re-provision with a new image, run the deploy scenario, tear down."""
    life = Life(environment)
    run = provision(aws, environment, extra)
    life.runs["provision"] = run
    life.runs["re-run"] = reprovision_changes_nothing(aws, environment, extra)
    life.state = awscheck.snapshot(aws, environment)
    scenario(life, root)
    life.runs["teardown"] = teardown(aws, environment, extra)
    life.leftovers = awscheck.leftovers(aws)
    return life


# ---------------------------------------------------------------- step 1


@pytest.fixture(scope="class")
def dev(aws, tmp_path_factory):
    aws.reset()
    root = tmp_path_factory.mktemp("dev")
    extra = {"compute_ssh_public_key": ssh_public_key(root)}

    def scenario(life: Life, root: Path) -> None:
        life.runs["teardown unconfirmed"] = run_playbook(aws, "teardown.yml", [inventory("dev")])
        life.facts["instances after unconfirmed teardown"] = len(awscheck.instances(aws, "dev"))
        hosts = stand_in_hosts(aws, "dev", root)
        servers = ReadyzServers(hosts, broken={})
        try:
            push_images(aws, "1a1a1a1")
            life.runs["deploy"] = deploy(aws, "dev", write_inventory(root, hosts), "1a1a1a1")
            life.facts["release"] = recorded_release(aws, "dev")
            life.facts["hosts"] = hosts
        finally:
            servers.close()

    return live(aws, "dev", extra, root, scenario)


class TestStep1SingleHost:
    def test_network_instances_and_secrets(self, dev):
        check_common(dev.state, app_count=1)

    def test_the_host_reaches_ssm_and_ecr(self, dev):
        check_every_instance_reaches_ssm_and_ecr(dev.state)

    def test_single_public_host_runs_everything(self, dev):
        [host] = dev.state["instances"]
        assert awscheck.tags(host)["Role"] == "app-data"
        subnet = dev.state["subnets"][host["SubnetId"]]
        assert awscheck.tags(subnet)["Tier"] == "public" and host.get("PublicIpAddress")
        groups = dev.state["security_groups"]
        assert set(groups) == {"app"}
        assert awscheck.ingress(groups["app"]) == [(80, 80, "0.0.0.0/0"), (8001, 8001, "0.0.0.0/0")]
        assert dev.state["parameters"]["database_host"]["Value"] == "bookstore-postgres"
        assert dev.state["parameters"]["redis_host"]["Value"] == "bookstore-redis"

    def test_no_load_balancer_nat_or_managed_data(self, dev):
        assert dev.state["load_balancer"] is None
        assert dev.state["db_instances"] == [] and dev.state["replication_groups"] == []
        assert dev.state["nat_gateways"] == []

    def test_rerun_with_a_new_image_changes_nothing(self, dev):
        assert dev.runs["re-run"].recap()["localhost"]["changed"] == 0

    def test_deploy_records_the_release(self, dev):
        assert dev.runs["deploy"].returncode == 0, dev.runs["deploy"].output[-6000:]
        assert dev.facts["release"] == {"api": "1a1a1a1", "web": "1a1a1a1"}
        [host] = dev.facts["hosts"].values()
        assert host_release(host) == {"api": "1a1a1a1", "web": "1a1a1a1"}
        check_settings(dev, host, database_tls=False)

    def test_teardown_needs_confirmation(self, dev):
        run = dev.runs["teardown unconfirmed"]
        assert run.returncode != 0 and "teardown_confirm=dev" in run.output
        assert dev.facts["instances after unconfirmed teardown"] == 1, "nothing was deleted"

    def test_teardown_leaves_only_the_image_repositories(self, dev):
        check_teardown_leaves_only_ecr(dev)


# ---------------------------------------------------------------- step 2


@pytest.fixture(scope="class")
def staging(aws, tmp_path_factory):
    aws.reset()
    root = tmp_path_factory.mktemp("staging")
    route53_zone(aws, "staging.shop.test")
    # Three app hosts so a rollout can show a host that comes after a failure;
    # the certificate is requested and validated through the Route 53 zone.
    extra = {
        "compute_app_count": 3,
        "compute_ssh_public_key": ssh_public_key(root),
        "alb_domain_name": "www.staging.shop.test",
        "alb_route53_zone": "staging.shop.test",
    }

    def scenario(life: Life, root: Path) -> None:
        hosts = stand_in_hosts(aws, "staging", root)
        inventory_path = write_inventory(root, hosts)
        # app-2 cannot run release 3f2c1e9 (its /readyz stays 503 with it).
        servers = ReadyzServers(hosts, broken={"app-2": {"3f2c1e9"}})
        try:
            push_images(aws, "0000001")
            push_images(aws, "3f2c1e9")
            push_images(aws, "4b4b4b4", apps=("api",))
            push_images(aws, "5c5c5c5", apps=("api",))
            life.runs["first deploy"] = deploy(aws, "staging", inventory_path, "0000001")
            life.facts["targets after first deploy"] = registered(aws)
            before = registered(aws)

            life.runs["check mode"] = deploy(
                aws, "staging", inventory_path, "3f2c1e9", args=["--check", "--limit", "localhost,app-1"]
            )
            life.facts["check mode left targets"] = registered(aws) == before
            life.facts["check mode left release"] = host_release(hosts["app-1"])

            life.runs["moving tag"] = deploy(aws, "staging", inventory_path, "latest")
            life.runs["missing image"] = deploy(aws, "staging", inventory_path, "4b4b4b4")
            life.facts["targets after refused deploys"] = registered(aws)

            life.runs["failing rollout"] = deploy(aws, "staging", inventory_path, "3f2c1e9")
            life.facts["targets after failing rollout"] = registered(aws)
            life.facts["hosts after failing rollout"] = {n: host_release(h) for n, h in hosts.items()}
            life.facts["release after failing rollout"] = recorded_release(aws, "staging")

            life.runs["api only"] = deploy(aws, "staging", inventory_path, "5c5c5c5", apps=("api",))
            life.facts["hosts after api only"] = {n: host_release(h) for n, h in hosts.items()}
            life.facts["release after api only"] = recorded_release(aws, "staging")
            life.facts["targets after api only"] = registered(aws)
            life.runs["status"] = run_playbook(aws, "status.yml", [inventory("staging"), inventory_path])
            life.facts["hosts"] = hosts
        finally:
            servers.close()

    return live(aws, "staging", extra, root, scenario)


class TestStep2LoadBalanced:
    def test_network_instances_and_secrets(self, staging):
        check_common(staging.state, app_count=3)

    def test_every_instance_reaches_ssm_and_ecr(self, staging):
        check_every_instance_reaches_ssm_and_ecr(staging.state)

    def test_https_with_a_certificate_validated_in_route53(self, staging):
        check_load_balancer(staging.state)
        [certificate] = staging.state["certificates"]
        assert certificate["DomainName"] == "www.staging.shop.test" and certificate["Status"] == "ISSUED"
        assert staging.state["listeners"][443]["Certificates"][0]["CertificateArn"] == certificate["CertificateArn"]
        records = {(r["Name"], r["Type"]) for r in staging.state["dns_records"]}
        validation = certificate["DomainValidationOptions"][0]["ResourceRecord"]
        assert (validation["Name"], "CNAME") in records
        [alias] = [r for r in staging.state["dns_records"] if r["Name"].startswith("www.staging.shop.test")]
        assert alias["Type"] == "A" and alias["AliasTarget"]["DNSName"].rstrip(".").endswith(
            staging.state["load_balancer"]["DNSName"]
        )

    def test_data_host_has_its_own_group_with_https_out(self, staging):
        instances = staging.state["instances"]
        [data] = [i for i in instances if awscheck.tags(i)["Role"] == "data"]
        groups = staging.state["security_groups"]
        assert set(groups) == {"alb", "app", "data"}, "db and cache groups belong to RDS and ElastiCache"
        assert [g["GroupId"] for g in data["SecurityGroups"]] == [groups["data"]["GroupId"]]
        app = groups["app"]["GroupId"]
        assert awscheck.ingress(groups["data"]) == [(5432, 5432, app), (6379, 6379, app)]
        apps = [i for i in instances if awscheck.tags(i)["Role"] == "app"]
        assert len({i["Placement"]["AvailabilityZone"] for i in apps}) == 2, "apps spread over two zones"
        params = staging.state["parameters"]
        assert params["database_host"]["Value"] == data["PrivateIpAddress"]
        assert params["redis_tls"]["Value"] == "false"

    def test_alarms_and_dashboard(self, staging):
        check_alarms(staging.state, managed_data=False)

    def test_rerun_with_a_new_image_changes_nothing(self, staging):
        assert staging.runs["re-run"].recap()["localhost"]["changed"] == 0

    def test_first_deploy_registers_every_host_and_records_the_release(self, staging):
        assert staging.runs["first deploy"].returncode == 0, staging.runs["first deploy"].output[-6000:]
        hosts = staging.facts["hosts"]
        assert staging.facts["targets after first deploy"] == expected_targets(hosts, list(hosts))

    def test_deploy_in_check_mode_changes_nothing(self, staging):
        run = staging.runs["check mode"]
        assert run.returncode == 0, run.output[-6000:]
        assert staging.facts["check mode left targets"]
        assert staging.facts["check mode left release"] == {"api": "0000001", "web": "0000001"}

    def test_deploy_refuses_a_moving_tag_or_a_missing_image_before_touching_anything(self, staging):
        moving, missing = staging.runs["moving tag"], staging.runs["missing image"]
        assert moving.returncode != 0 and "immutable tag of the release" in moving.output
        assert missing.returncode != 0 and "bookstore-web:4b4b4b4" in missing.output
        assert "bookstore-api:4b4b4b4" not in missing.output.split("Not in ECR")[1].splitlines()[0]
        hosts = staging.facts["hosts"]
        assert staging.facts["targets after refused deploys"] == expected_targets(hosts, list(hosts))
        assert "Take the host out" not in missing.output.split("PLAY RECAP")[0].split("Roll the release out")[-1]

    def test_failing_host_gets_the_previous_release_back_and_the_rollout_stops(self, staging):
        run = staging.runs["failing rollout"]
        assert run.returncode != 0
        recap = run.recap()
        assert recap["app-1"]["failed"] == 0
        assert recap["app-2"]["failed"] == 1 and recap["app-2"]["rescued"] == 1
        assert "app-3" not in recap, "hosts after a failure are never touched"
        assert staging.facts["hosts after failing rollout"] == {
            "app-1": {"api": "3f2c1e9", "web": "3f2c1e9"},
            "app-2": {"api": "0000001", "web": "0000001"},
            "app-3": {"api": "0000001", "web": "0000001"},
        }
        hosts = staging.facts["hosts"]
        assert staging.facts["targets after failing rollout"] == expected_targets(hosts, list(hosts)), "all serve"
        assert staging.facts["release after failing rollout"] == {"api": "0000001", "web": "0000001"}

    def test_one_apps_deploy_never_moves_the_other_app(self, staging):
        run = staging.runs["api only"]
        assert run.returncode == 0, run.output[-6000:]
        release = {"api": "5c5c5c5", "web": "0000001"}
        assert staging.facts["release after api only"] == release
        assert set(map(json.dumps, staging.facts["hosts after api only"].values())) == {json.dumps(release)}

    def test_status_shows_the_recorded_release_and_each_host(self, staging):
        run = staging.runs["status"]
        assert run.returncode == 0, run.output[-6000:]
        assert "staging release: api=5c5c5c5 web=0000001" in run.output
        assert "app-3 runs api=5c5c5c5 web=0000001" in run.output
        hosts = staging.facts["hosts"]
        assert f"{hosts['app-3']['instance_id']}=healthy" in run.output

    def test_release_settings_come_from_ssm_and_stay_private(self, staging):
        check_settings(staging, staging.facts["hosts"]["app-1"], database_tls=False)

    def test_teardown_leaves_only_the_image_repositories(self, staging):
        check_teardown_leaves_only_ecr(staging)


# ---------------------------------------------------------------- step 3


@pytest.fixture(scope="class")
def production(aws, tmp_path_factory):
    aws.reset()
    root = tmp_path_factory.mktemp("production")
    acm = aws.client("acm")
    certificate = acm.request_certificate(DomainName="shop.example.com")["CertificateArn"]
    ca_bundle = root / "rds-ca.pem"
    ca_bundle.write_text("-----BEGIN CERTIFICATE-----\nstand-in RDS CA\n-----END CERTIFICATE-----\n")
    extra = {
        "data_rds_storage_type": "gp2",
        "alb_certificate_arn": certificate,
        "compute_ssh_public_key": ssh_public_key(root),
        "data_rds_final_snapshot": False,
    }

    def scenario(life: Life, root: Path) -> None:
        life.facts["ca_bundle"] = ca_bundle.read_text()
        hosts = stand_in_hosts(aws, "production", root)
        inventory_path = write_inventory(root, hosts, {"app_deploy_rds_ca_bundle_url": ca_bundle.as_uri()})
        servers = ReadyzServers(hosts, broken={})
        try:
            push_images(aws, "7e7e7e7")
            life.runs["deploy"] = deploy(aws, "production", inventory_path, "7e7e7e7")
            life.facts["release"] = recorded_release(aws, "production")
            life.facts["hosts"] = hosts
        finally:
            servers.close()

    life = live(aws, "production", extra, root, scenario)
    acm.delete_certificate(CertificateArn=certificate)
    life.leftovers = awscheck.leftovers(aws)
    return life


@pytest.fixture(scope="class")
def production_without_certificate(aws, tmp_path_factory):
    aws.reset()
    run = run_playbook(
        aws,
        "provision.yml",
        [inventory("production")],
        {"compute_ssh_public_key": ssh_public_key(tmp_path_factory.mktemp("nocert")), "data_rds_storage_type": "gp2"},
    )
    return run, awscheck.leftovers(aws)


class TestStep3RefusesPlainHttp:
    def test_production_refuses_to_provision_without_a_certificate(self, production_without_certificate):
        run, leftovers = production_without_certificate
        assert run.returncode != 0
        assert "serves HTTPS only" in run.output
        assert leftovers == {}, "refused before creating anything"


class TestStep3ManagedData:
    def test_rerun_with_a_new_image_and_full_engine_version_changes_nothing(self, production):
        assert production.runs["re-run"].recap()["localhost"]["changed"] == 0
        [db] = production.state["db_instances"]
        assert db["EngineVersion"] == "17.6", "AWS reports the full version"

    def test_network_instances_and_secrets(self, production):
        check_common(production.state, app_count=3)

    def test_every_instance_reaches_ssm_and_ecr(self, production):
        check_every_instance_reaches_ssm_and_ecr(production.state)

    def test_load_balancer_https_rules_health_checks_and_groups(self, production):
        check_load_balancer(production.state)
        groups = production.state["security_groups"]
        app = groups["app"]["GroupId"]
        assert awscheck.ingress(groups["db"]) == [(5432, 5432, app)], "PostgreSQL from the app group only"
        assert awscheck.ingress(groups["cache"]) == [(6379, 6379, app)], "Redis from the app group only"
        assert groups["db"]["IpPermissionsEgress"] == [] and groups["cache"]["IpPermissionsEgress"] == []

    def test_apps_in_private_subnets_behind_one_nat_gateway_per_zone(self, production):
        state = production.state
        subnets = state["subnets"]
        for instance in state["instances"]:
            assert awscheck.tags(subnets[instance["SubnetId"]])["Tier"] == "private"
            assert not instance.get("PublicIpAddress")
        nats = state["nat_gateways"]
        assert len(nats) == 2
        assert {subnets[n["SubnetId"]]["AvailabilityZone"] for n in nats} == {
            s["AvailabilityZone"] for s in subnets.values()
        }
        nat_zone = {n["NatGatewayId"]: subnets[n["SubnetId"]]["AvailabilityZone"] for n in nats}
        for subnet_id, subnet in subnets.items():
            if awscheck.tags(subnet)["Tier"] != "private":
                continue
            [table] = [
                t for t in state["route_tables"] if any(a.get("SubnetId") == subnet_id for a in t["Associations"])
            ]
            [nat] = [r["NatGatewayId"] for r in table["Routes"] if r.get("NatGatewayId")]
            assert nat_zone[nat] == subnet["AvailabilityZone"], "each zone through its own NAT gateway"

    def test_database_private_encrypted_tls_backed_up_protected(self, production):
        state = production.state
        groups = state["security_groups"]
        [db] = state["db_instances"]
        assert db["Engine"] == "postgres"
        assert db["PubliclyAccessible"] is False and db["StorageEncrypted"] is True
        assert db["MultiAZ"] is True and db["BackupRetentionPeriod"] == 14 and db["DeletionProtection"] is True
        assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [groups["db"]["GroupId"]]
        [group] = db["DBParameterGroups"]
        assert state["db_parameters"][group["DBParameterGroupName"]]["rds.force_ssl"] == "1"
        private = {s for s, v in state["subnets"].items() if awscheck.tags(v)["Tier"] == "private"}
        assert {s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]} == private

    def test_redis_private_encrypted_with_auth(self, production):
        state = production.state
        [group] = state["replication_groups"]
        assert group["AtRestEncryptionEnabled"] is True and group["TransitEncryptionEnabled"] is True
        assert group["AuthTokenEnabled"] is True
        assert group["MultiAZ"] == "enabled" and group["AutomaticFailover"] == "enabled"
        subnet_group = state["cache_subnet_groups"]["bookstore-production"]
        private = {s for s, v in state["subnets"].items() if awscheck.tags(v)["Tier"] == "private"}
        assert {s["SubnetIdentifier"] for s in subnet_group["Subnets"]} == private
        params = state["parameters"]
        assert params["redis_tls"]["Value"] == "true"
        assert params["redis_host"]["Value"] == group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
        [db] = state["db_instances"]
        assert params["database_host"]["Value"] == db["Endpoint"]["Address"]

    def test_alarms_and_dashboard(self, production):
        check_alarms(production.state, managed_data=True)

    def test_deploy_verifies_the_database_and_uses_the_apps_own_user(self, production):
        run = production.runs["deploy"]
        assert run.returncode == 0, run.output[-6000:]
        assert production.facts["release"] == {"api": "7e7e7e7", "web": "7e7e7e7"}
        for host in production.facts["hosts"].values():
            check_settings(production, host, database_tls=True)

    def test_teardown_leaves_only_the_image_repositories(self, production):
        check_teardown_leaves_only_ecr(production)
