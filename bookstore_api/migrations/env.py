"""Alembic environment: migrations run online, under a PostgreSQL advisory lock
so two deploys can never migrate the same database at once."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

# every domain's models, so Base.metadata is complete
from bookstore_api.accounts import models as _accounts  # noqa: F401
from bookstore_api.addresses import models as _addresses  # noqa: F401
from bookstore_api.carts import models as _carts  # noqa: F401
from bookstore_api.catalog import models as _catalog  # noqa: F401
from bookstore_api.infra.db import driver_url
from bookstore_api.infra.models import Base
from bookstore_api.inventory import models as _inventory  # noqa: F401
from bookstore_api.mail import models as _mail  # noqa: F401
from bookstore_api.orders import models as _orders  # noqa: F401
from bookstore_api.reviews import models as _reviews  # noqa: F401
from bookstore_api.vouchers import models as _vouchers  # noqa: F401
from bookstore_api.webhooks import models as _webhooks  # noqa: F401
from bookstore_api.wishlist import models as _wishlist  # noqa: F401

#: an arbitrary constant shared by every process that migrates this schema
MIGRATION_LOCK_ID = 0x626F6F6B  # "book"

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = driver_url(config.get_main_option("sqlalchemy.url"))
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=target_metadata, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `bookstore migrate`.")
run_migrations_online()
