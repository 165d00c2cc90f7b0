"""Schemathesis against the app's own OpenAPI schema, with a valid admin key.

Every operation gets generated requests: no answer may be a 5xx or break the schema.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.openapi import from_asgi

from alerts.core.models import utcnow
from alerts.staff.keys import create_key
from alerts.web import create_app
from tests.conftest import Stack


@pytest.fixture
def admin_key(pipeline: Stack) -> str:
    with pipeline.session() as session:
        key = create_key(session, "schemathesis", "admin", utcnow())[1]
        session.commit()
    return key


# The schema is the same on both stacks: fuzz it once, on the embedded one.
pytestmark = pytest.mark.parametrize("stack", ["embedded"], indirect=True)


@pytest.fixture
def api_schema(pipeline: Stack) -> schemathesis.schemas.BaseSchema:
    return from_asgi("/api/openapi.json", create_app(pipeline.app))


schema = schemathesis.pytest.from_fixture("api_schema")


# No 5xx and no answer outside the schema. Business rules a schema cannot state
# (a time in the past, an unknown country, a published item being edited) are
# refused with 4xx on purpose, so "every schema-valid request succeeds" is not asked.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.allow_header_conformance,
]


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Any, admin_key: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_key}"}, checks=CHECKS)
