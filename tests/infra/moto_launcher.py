"""Start moto's server with the AWS behaviours the playbooks rely on.

ElastiCache: moto 5.2.5 leaves a deleted replication group or cache cluster in status
"deleting" forever (so a delete that waits never returns) and does not implement
DeleteCacheSubnetGroup (HTTP 500). AWS removes the first two once deleted and
does implement the third; this launcher patches exactly those three behaviours

ELBv2: AWS describes every load balancer attribute with its default value;
moto omits idle_timeout, HTTP/2, invalid-header dropping, access logs and
deletion protection until they are set,
which breaks amazon.aws.elb_application_lb when it creates a load balancer with
them. The launcher gives new load balancers AWS's defaults.

RDS: AWS answers a CreateDBInstance that names only the major version ("17")
with the full version it picked ("17.6"), and reports that from then on; moto
echoes "17", which hides a playbook that sends "17" again and so modifies the
database on every run. The launcher stores the full version as AWS does.

RDS parameter groups: AWS answers DescribeDBParameterGroups for an unknown
name with DBParameterGroupNotFound (moto ignores the name and lists them all),
and DescribeDBParameters with every parameter of the family, each with its
data type and whether it is modifiable (moto lists only the ones set, bare).
The launcher does the same for the parameters the playbooks set.

ACM: a requested certificate is issued as soon as it is described again
(AWS issues it once the DNS records validate it).

It then runs moto's own server entry point:

    python tests/infra/moto_launcher.py -H 127.0.0.1 -p 5000
"""

from __future__ import annotations

import sys

from moto import settings
from moto.core.responses import ActionResult, EmptyResult
from moto.elasticache.exceptions import CacheSubnetGroupNotFound
from moto.elasticache.models import ElastiCacheBackend
from moto.elasticache.responses import ElastiCacheResponse
from moto.elbv2.models import FakeLoadBalancer
from moto.rds.exceptions import DBParameterGroupNotFoundError
from moto.rds.models import DBInstance, RDSBackend
from moto.rds.responses import RDSResponse

# AWS's defaults of the application load balancer attributes moto leaves out.
ALB_DEFAULT_ATTRIBUTES = {
    "idle_timeout.timeout_seconds": "60",
    "routing.http2.enabled": "true",
    "routing.http.drop_invalid_header_fields.enabled": "false",
    "access_logs.s3.enabled": "false",
    "access_logs.s3.bucket": "",
    "access_logs.s3.prefix": "",
    "deletion_protection.enabled": "false",
}


def _delete_replication_group(self, replication_group_id, retain_primary_cluster=None):
    group = _original_delete_replication_group(self, replication_group_id, retain_primary_cluster)
    del self.replication_groups[replication_group_id]
    return group


def _delete_cache_cluster(self, cache_cluster_id):
    cluster = _original_delete_cache_cluster(self, cache_cluster_id)
    del self.cache_clusters[cache_cluster_id]
    return cluster


def _backend_delete_cache_subnet_group(self, cache_subnet_group_name):
    if cache_subnet_group_name not in self.cache_subnet_groups:
        raise CacheSubnetGroupNotFound(cache_subnet_group_name)
    return self.cache_subnet_groups.pop(cache_subnet_group_name)


def _response_delete_cache_subnet_group(self):
    self.elasticache_backend.delete_cache_subnet_group(self._get_param("CacheSubnetGroupName"))
    return EmptyResult()


# The minor version AWS picks for a request that names only the major one.
RDS_DEFAULT_MINOR_VERSIONS = {"postgres": {"17": "17.6", "16": "16.10", "15": "15.14"}}


def _engine_version_setter(self, value):
    minors = RDS_DEFAULT_MINOR_VERSIONS.get(getattr(self, "engine", None) or "", {})
    self._engine_version = minors.get(str(value), value)


# What AWS describes for the parameters the playbooks set (PostgreSQL families).
RDS_PARAMETER_CATALOGUE = {
    "rds.force_ssl": {"DataType": "boolean", "AllowedValues": "0,1", "IsModifiable": True, "ApplyType": "dynamic"},
    "log_min_duration_statement": {
        "DataType": "integer",
        "AllowedValues": "-1-2147483647",
        "IsModifiable": True,
        "ApplyType": "dynamic",
    },
}


def _describe_db_parameter_groups(self, db_parameter_group_kwargs):
    name = db_parameter_group_kwargs.get("DBParameterGroupName") or db_parameter_group_kwargs.get(
        "db_parameter_group_name"
    )
    if name is None:
        return list(self.db_parameter_groups.values())
    if name not in self.db_parameter_groups:
        raise DBParameterGroupNotFoundError(name)
    return [self.db_parameter_groups[name]]


def _describe_db_parameters(self):
    name = self.params.get("DBParameterGroupName")
    [group] = self.backend.describe_db_parameter_groups({"DBParameterGroupName": name})
    parameters = {
        key: {"ParameterName": key, "Source": "engine-default", **meta} for key, meta in RDS_PARAMETER_CATALOGUE.items()
    }
    for key, value in group.parameters.items():
        parameters[key] = {**parameters.get(key, {"ParameterName": key}), **value, "Source": "user"}
    return ActionResult({"Parameters": list(parameters.values())})


def _load_balancer_init(self, *args, **kwargs):
    _original_load_balancer_init(self, *args, **kwargs)
    for key, value in ALB_DEFAULT_ATTRIBUTES.items():
        self.attrs.setdefault(key, value)


_original_load_balancer_init = FakeLoadBalancer.__init__
_original_delete_replication_group = ElastiCacheBackend.delete_replication_group
_original_delete_cache_cluster = ElastiCacheBackend.delete_cache_cluster


def patch() -> None:
    """Apply the ElastiCache, ELBv2 and RDS behaviours to moto's in-process backend."""
    ElastiCacheBackend.delete_replication_group = _delete_replication_group
    ElastiCacheBackend.delete_cache_cluster = _delete_cache_cluster
    ElastiCacheBackend.delete_cache_subnet_group = _backend_delete_cache_subnet_group
    ElastiCacheResponse.delete_cache_subnet_group = _response_delete_cache_subnet_group
    FakeLoadBalancer.__init__ = _load_balancer_init
    DBInstance.engine_version = DBInstance.engine_version.setter(_engine_version_setter)
    RDSBackend.describe_db_parameter_groups = _describe_db_parameter_groups
    RDSResponse.describe_db_parameters = _describe_db_parameters
    settings.ACM_VALIDATION_WAIT = 0


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    patch()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
