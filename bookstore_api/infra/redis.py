"""The API's Redis: one :class:`~bookstore_core.redisstore.RedisStore` and ``request.redis``."""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.request import Request

from bookstore_core.redisstore import RedisStore


def redis_store(request: Request) -> RedisStore:
    return request.registry["redis"]


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    config.registry["redis"] = RedisStore.from_url(settings["redis.url"], settings["redis.prefix"])
    config.add_request_method(redis_store, "redis", reify=True)
