"""HTTP plumbing of the API: everything between the WSGI request and a domain's view.

* :mod:`.renderers`  — orjson responses (``json_response``, ``renderer="json"``)
* :mod:`.errors`     — the error body of ``API.md`` for every failure; domain errors -> HTTP
* :mod:`.tweens`     — body guard (size, media type, JSON syntax) before routing
* :mod:`.openapi`    — routes and the spec from ``openapi.yaml`` (production)
* :mod:`.validation` — every request checked against the spec, compiled at start-up
* :mod:`.security`   — bearer tokens, roles, the client's address behind proxies
* :mod:`.helpers`    — paging and cacheable JSON responses for views
* :mod:`.health`     — ``/healthz`` and ``/readyz`` for the load balancer
"""
