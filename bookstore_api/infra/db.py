"""PostgreSQL access: the engine, the session factory and ``request.dbsession``.

The session factory is registered with ``zope.sqlalchemy`` once, at start-up, so
every session it makes joins the thread's transaction that ``pyramid_tm`` begins
and ends around each request. No code commits or rolls back by hand.
"""

from __future__ import annotations

from typing import Any

import transaction
import zope.sqlalchemy
from pyramid.config import Configurator
from pyramid.request import Request
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


def driver_url(url: str) -> str:
    """Pin the psycopg2 driver (SQLAlchemy 2.1 picks psycopg 3 for plain ``postgresql://``)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def make_engine(settings: dict[str, Any], *, application_name: str = "bookstore_api") -> Engine:
    """An engine with a pre-pinged pool, short connect timeout and a statement timeout."""
    url = driver_url(settings["sqlalchemy.url"])
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=int(settings.get("sqlalchemy.pool_size", 10)),
        max_overflow=int(settings.get("sqlalchemy.max_overflow", 10)),
        pool_recycle=1800,
        connect_args={
            "connect_timeout": 3,
            "application_name": application_name,
            "options": "-c statement_timeout=15000 -c lock_timeout=10000 -c pg_trgm.word_similarity_threshold=0.5",
        },
    )
    return engine


def make_session_factory(bind: Any, **kwargs: Any) -> sessionmaker[Session]:
    """A session factory whose sessions join the thread's zope transaction."""
    factory = sessionmaker(bind=bind, expire_on_commit=False, **kwargs)
    zope.sqlalchemy.register(factory, transaction_manager=transaction.manager)
    return factory


def dbsession(request: Request) -> Session:
    """The request's ORM session (created lazily, closed by the transaction)."""
    return request.registry["dbsession_factory"]()


def _thread_transaction_manager(request: Request) -> transaction.TransactionManager:
    return transaction.manager


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    settings["tm.manager_hook"] = _thread_transaction_manager
    settings.setdefault("retry.attempts", 3)
    settings.setdefault("tm.annotate_user", "false")  # no identity lookup just to label a transaction
    config.include("pyramid_tm")
    config.include("pyramid_retry")

    engine = make_engine(settings)
    config.registry["dbengine"] = engine
    config.registry["dbsession_factory"] = make_session_factory(engine)
    config.add_request_method(dbsession, "dbsession", reify=True)
