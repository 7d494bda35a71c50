"""Watching the API's transaction manager: which requests begin a transaction at all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class BeginRecorder:
    """A synchronizer (the ``transaction`` package's interface) that records each begun transaction."""

    def __init__(self, began: list):
        self.began = began

    def newTransaction(self, txn):  # the interface names these in camelCase
        self.began.append(txn)

    def beforeCompletion(self, txn):
        pass

    def afterCompletion(self, txn):
        pass


@contextmanager
def transactions_begun(api_app: Any) -> Iterator[list]:
    """The transactions the API's manager begins inside the ``with`` block, in a list."""
    began: list = []
    manager = api_app.registry.settings["tm.manager_hook"](None)
    manager.registerSynch(synch := BeginRecorder(began))
    try:
        yield began
    finally:
        manager.unregisterSynch(synch)
