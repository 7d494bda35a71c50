"""The order lifecycle table: which status each action moves between, and who may take it."""

from __future__ import annotations

import pytest

from bookstore_api.exceptions import Forbidden, IllegalTransition
from bookstore_api.orders import lifecycle
from bookstore_api.orders.lifecycle import CANCELLED, DELIVERED, PAID, SHIPPED

CUSTOMER = {"owner": True, "staff": False}
STRANGER = {"owner": False, "staff": False}
STAFF = {"owner": False, "staff": True}
STAFF_OWNER = {"owner": True, "staff": True}


def test_the_statuses_and_the_initial_one():
    assert lifecycle.STATUSES == (PAID, SHIPPED, DELIVERED, CANCELLED)
    assert lifecycle.INITIAL == PAID
    for transition in lifecycle.TRANSITIONS.values():
        assert transition.source in lifecycle.STATUSES and transition.target in lifecycle.STATUSES


@pytest.mark.parametrize(
    ("action", "source", "target", "stamp"),
    [
        ("cancel", PAID, CANCELLED, "cancelled_at"),
        ("ship", PAID, SHIPPED, "shipped_at"),
        ("deliver", SHIPPED, DELIVERED, "delivered_at"),
    ],
)
def test_each_action_goes_from_one_status_to_another(action, source, target, stamp):
    transition = lifecycle.check(action, source, **STAFF)
    assert (transition.source, transition.target, transition.stamp) == (source, target, stamp)


@pytest.mark.parametrize(
    ("status", "caller", "actions"),
    [
        (PAID, CUSTOMER, ["cancel"]),
        (PAID, STAFF, ["cancel", "ship"]),
        (PAID, STAFF_OWNER, ["cancel", "ship"]),
        (PAID, STRANGER, []),
        (SHIPPED, CUSTOMER, []),
        (SHIPPED, STAFF, ["deliver"]),
        (DELIVERED, CUSTOMER, []),
        (DELIVERED, STAFF, []),
        (CANCELLED, CUSTOMER, []),
        (CANCELLED, STAFF, []),
    ],
)
def test_allowed_actions_per_status_and_caller(status, caller, actions):
    assert lifecycle.allowed_actions(status, **caller) == actions


def test_allowed_actions_are_exactly_the_ones_check_lets_through():
    for status in lifecycle.STATUSES:
        for caller in (CUSTOMER, STRANGER, STAFF, STAFF_OWNER):
            allowed = lifecycle.allowed_actions(status, **caller)
            for action in lifecycle.ACTIONS:
                if action in allowed:
                    lifecycle.check(action, status, **caller)
                else:
                    with pytest.raises((Forbidden, IllegalTransition)):
                        lifecycle.check(action, status, **caller)


@pytest.mark.parametrize("action", ["ship", "deliver"])
def test_only_staff_ship_and_deliver(action):
    with pytest.raises(Forbidden):
        lifecycle.check(action, PAID if action == "ship" else SHIPPED, **CUSTOMER)


def test_nobody_else_may_cancel_an_order():
    with pytest.raises(Forbidden):
        lifecycle.check("cancel", PAID, **STRANGER)


@pytest.mark.parametrize(
    ("action", "status", "message"),
    [
        ("cancel", SHIPPED, "An order that is shipped cannot be cancelled."),
        ("ship", CANCELLED, "An order that is cancelled cannot be shipped."),
        ("deliver", PAID, "An order that is paid cannot be marked delivered."),
    ],
)
def test_a_status_that_does_not_allow_the_action_is_an_illegal_transition(action, status, message):
    with pytest.raises(IllegalTransition) as raised:
        lifecycle.check(action, status, **STAFF)
    assert raised.value.code == "illegal_state"
    assert raised.value.message == message
    assert raised.value.details == {"status": status}


def test_the_role_is_checked_before_the_status():
    # a customer asking to ship a delivered order is refused for who they are, not for the status
    with pytest.raises(Forbidden):
        lifecycle.check("ship", DELIVERED, **CUSTOMER)
