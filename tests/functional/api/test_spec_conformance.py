"""Generated requests against the in-process API: the server keeps to ``openapi.yaml``.

A bounded fuzz run over the whole spec, as staff and as an anonymous client, on
every ``make test``: it fails on any server error and on any disagreement between
spec and server, and prints operations, cases and findings by kind.

Schemathesis draws valid and invalid requests for every operation from the spec
and runs its checks on each response: no server error, only documented status
codes, content types and headers, bodies that match their schema, invalid
requests rejected and valid ones accepted. A valid request may still get a 400
for a rule the spec cannot state (a check digit, an existing genre); only those
fields are allowed in such a 400.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers.clients import Client, unique_email
from tests.helpers.factories import make_user

pytestmark = [pytest.mark.slow, pytest.mark.needs_db]

#: generated requests per operation and mode (valid, invalid): the whole run stays within about a minute
EXAMPLES = 25

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]

#: fields a well-formed request can still be refused for (openapi.yaml's description lists the rules)
BEYOND_THE_SCHEMA = frozenset(
    {
        "isbn",
        "currency",
        "genres",
        "min_price",
        "items",
        "password",
        "payment.card_number",
        "payment.expiry",
        "token",  # a mailed one-time token must have been issued, unused and unexpired
        "url",  # a webhook URL must resolve to public addresses
    }
    # report periods (real dates, from <= to, a bounded length) and a CSV body (its rows)
    | {"from", "to", "body"}
)


def _allowed(failure: Failure, response) -> bool:
    """A valid request refused only for rules the spec cannot state (or by a documented rate limit)."""
    if not isinstance(failure, RejectedPositiveData):
        return False
    if response.status_code == 429:  # thousands of sign-ups from one address are meant to be limited
        return "Retry-After" in response.headers
    if response.status_code != 400:
        return False
    fields = response.json().get("error", {}).get("details", {}).get("fields", {})
    return bool(fields) and set(fields) <= BEYOND_THE_SCHEMA


def _failures(case, response) -> list[Failure]:
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        return list(group.exceptions)
    except Failure as failure:
        return [failure]
    return []


def run_conformance(app, token: str | None, examples: int = EXAMPLES, stats: Counter | None = None) -> dict:
    """(operation, finding) -> an example request, for every disagreement between spec and server.

    ``stats`` counts operations, cases, responses by status class and findings by kind.
    """
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.yaml", app)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    stats = Counter() if stats is None else stats
    findings: dict[tuple[str, str], str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        stats["operations"] += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case):
                response = case.call(headers=headers)
                stats["cases"] += 1
                stats[f"responses {response.status_code // 100}xx"] += 1
                for failure in _failures(case, response):
                    if not _allowed(failure, response):
                        stats[f"finding: {failure.title}"] += 1
                        example = f"{case.method} {case.formatted_path} -> {response.status_code}: {failure.title}"
                        findings.setdefault((case.operation.label, failure.title), example)

            try:
                exercise()
            except Unsatisfiable:  # nothing to get wrong: an operation without parameters or body
                assert mode is GenerationMode.NEGATIVE, operation.label
    return findings


@pytest.mark.parametrize("caller", ["staff", "anonymous"])
def test_the_api_keeps_to_its_spec(caller, api_app, testapp, dbsession):
    # generated webhook URLs can never point the shop at this machine, and no worker runs here
    assert not api_app.registry["webhook_address_policy"].allow_loopback
    token = None
    if caller == "staff":
        email = unique_email("staff")
        make_user(dbsession, api_app, email=email, password="staff password 1", role="staff")
        token = Client(testapp).post("/auth/tokens", {"email": email, "password": "staff password 1"}).json["token"]

    stats: Counter = Counter()
    findings = run_conformance(api_app, token, stats=stats)

    print(f"\nschemathesis as {caller}: " + ", ".join(f"{key} {value}" for key, value in sorted(stats.items())))
    assert stats["responses 5xx"] == 0, stats
    assert not findings, f"{len(findings)} disagreement(s):\n" + "\n".join(sorted(findings.values()))
