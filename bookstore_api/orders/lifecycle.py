"""The order lifecycle: every status, and every transition with who may make it.

``paid`` → ``shipped`` → ``delivered``; ``paid`` → ``cancelled``. The order's
customer may cancel their own paid order; staff may cancel, ship and deliver.
This table is the only place that says so: the service checks a transition
against it, and the API tells each caller which ``actions`` it allows them now.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import Forbidden, IllegalTransition

PAID = "paid"
SHIPPED = "shipped"
DELIVERED = "delivered"
CANCELLED = "cancelled"

#: every status an order can have, in lifecycle order
STATUSES = (PAID, SHIPPED, DELIVERED, CANCELLED)
#: the status of a new order (checkout charges the card before the order exists)
INITIAL = PAID

#: who may make a transition: the customer who placed the order, or staff
OWNER = "owner"
STAFF = "staff"

CANCEL = "cancel"
SHIP = "ship"
DELIVER = "deliver"


@dataclass(frozen=True)
class Transition:
    action: str
    source: str
    target: str
    allowed: frozenset[str]  # OWNER and/or STAFF
    stamp: str  # the order's column that records when it happened
    done: str  # how the refusal names it: "an order that is shipped cannot be <done>"


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition(CANCEL, PAID, CANCELLED, frozenset({OWNER, STAFF}), "cancelled_at", "cancelled"),
        Transition(SHIP, PAID, SHIPPED, frozenset({STAFF}), "shipped_at", "shipped"),
        Transition(DELIVER, SHIPPED, DELIVERED, frozenset({STAFF}), "delivered_at", "marked delivered"),
    )
}
#: every action, in a stable order (the order ``actions`` lists them in)
ACTIONS = tuple(TRANSITIONS)


def parties(*, owner: bool, staff: bool) -> frozenset[str]:
    """What the caller is to an order: its owner, staff, both or neither."""
    return frozenset(party for party, present in ((OWNER, owner), (STAFF, staff)) if present)


def allowed_actions(status: str, *, owner: bool, staff: bool) -> list[str]:
    """The actions this caller may take on an order in ``status`` now."""
    caller = parties(owner=owner, staff=staff)
    return [t.action for t in TRANSITIONS.values() if t.source == status and t.allowed & caller]


def check(action: str, status: str, *, owner: bool, staff: bool) -> Transition:
    """The transition ``action`` names, if this caller may make it from ``status``.

    Raises :class:`Forbidden` when the caller may never take this action, and
    :class:`IllegalTransition` when the order's status does not allow it now.
    """
    transition = TRANSITIONS[action]
    if not transition.allowed & parties(owner=owner, staff=staff):
        raise Forbidden()
    if transition.source != status:
        raise IllegalTransition(status, transition.done)
    return transition
