"""Start moto's server with the AWS behaviours the playbooks rely on.

ElastiCache: moto 5.2.5 leaves a deleted replication group or cache cluster in status
"deleting" forever (so a delete that waits never returns) and does not implement
DeleteCacheSubnetGroup (HTTP 500). AWS removes the first two once deleted and
does implement the third; this launcher patches exactly those three behaviours

ELBv2: AWS describes every load balancer attribute with its default value;
moto omits idle_timeout, HTTP/2 and invalid-header dropping until they are set,
which breaks amazon.aws.elb_application_lb when it creates a load balancer with
them. The launcher gives new load balancers AWS's defaults.

It then runs moto's own server entry point:

    python tests/infra/moto_launcher.py -H 127.0.0.1 -p 5000
"""

from __future__ import annotations

import sys

from moto.core.responses import EmptyResult
from moto.elasticache.exceptions import CacheSubnetGroupNotFound
from moto.elasticache.models import ElastiCacheBackend
from moto.elasticache.responses import ElastiCacheResponse
from moto.elbv2.models import FakeLoadBalancer

# AWS's defaults of the application load balancer attributes moto leaves out.
ALB_DEFAULT_ATTRIBUTES = {
    "idle_timeout.timeout_seconds": "60",
    "routing.http2.enabled": "true",
    "routing.http.drop_invalid_header_fields.enabled": "false",
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


def _load_balancer_init(self, *args, **kwargs):
    _original_load_balancer_init(self, *args, **kwargs)
    for key, value in ALB_DEFAULT_ATTRIBUTES.items():
        self.attrs.setdefault(key, value)


_original_load_balancer_init = FakeLoadBalancer.__init__
_original_delete_replication_group = ElastiCacheBackend.delete_replication_group
_original_delete_cache_cluster = ElastiCacheBackend.delete_cache_cluster


def patch() -> None:
    """Apply the ElastiCache and ELBv2 fixes to moto's in-process backend."""
    ElastiCacheBackend.delete_replication_group = _delete_replication_group
    ElastiCacheBackend.delete_cache_cluster = _delete_cache_cluster
    ElastiCacheBackend.delete_cache_subnet_group = _backend_delete_cache_subnet_group
    ElastiCacheResponse.delete_cache_subnet_group = _response_delete_cache_subnet_group
    FakeLoadBalancer.__init__ = _load_balancer_init


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    patch()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
