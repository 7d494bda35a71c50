"""bookstore_core: what both apps need, and nothing else.

* :mod:`.settings`  — defaults, then the ini file, then ``BOOKSTORE_*`` variables
* :mod:`.logs`      — JSON-lines logging and the request id that follows a request
* :mod:`.serving`   — waitress, as the images and ``make run`` serve an app
* :mod:`.accounts`  — user roles, the permissions each grants, the password policy
* :mod:`.cards`     — card-number, expiry and security-code checks
* :mod:`.money`     — the format of an amount a person types (prices, price filters)
* :mod:`.proxies`   — the client's address behind trusted proxies; relative redirects
* :mod:`.redisstore` — a Redis client that degrades to misses while Redis is down
* :mod:`.versioned` — the Redis key/version contract of cached catalogue reads,
  which the API writes and the storefront's page cache reads

The API and the storefront import this package and never each other; this
package imports neither.
"""
