"""Start moto's server with the ElastiCache behaviours the playbooks rely on.

moto 5.2.5 leaves a deleted replication group or cache cluster in status
"deleting" forever (so a delete that waits never returns) and does not implement
DeleteCacheSubnetGroup (HTTP 500). AWS removes the first two once deleted and
does implement the third; this launcher patches exactly those three behaviours
and then runs moto's own server entry point:

    python tests/infra/moto_launcher.py -H 127.0.0.1 -p 5000
"""

from __future__ import annotations

import sys

from moto.core.responses import EmptyResult
from moto.elasticache.exceptions import CacheSubnetGroupNotFound
from moto.elasticache.models import ElastiCacheBackend
from moto.elasticache.responses import ElastiCacheResponse


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


_original_delete_replication_group = ElastiCacheBackend.delete_replication_group
_original_delete_cache_cluster = ElastiCacheBackend.delete_cache_cluster


def patch() -> None:
    """Apply the three ElastiCache fixes to moto's in-process backend."""
    ElastiCacheBackend.delete_replication_group = _delete_replication_group
    ElastiCacheBackend.delete_cache_cluster = _delete_cache_cluster
    ElastiCacheBackend.delete_cache_subnet_group = _backend_delete_cache_subnet_group
    ElastiCacheResponse.delete_cache_subnet_group = _response_delete_cache_subnet_group


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    patch()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
