"""Infrastructure of the API: the database engine and sessions, Redis, the declarative base.

* :mod:`.db`     — engine, session factory joined to ``pyramid_tm``, ``request.dbsession``
* :mod:`.redis`  — the Redis store and ``request.redis``
* :mod:`.models` — the declarative base and its naming convention
"""
