"""Generated requests against the running API (seeded MMN data): never a server error,
and every answer matches the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import Engine

from tests.support.fakeapi import FakeCtgov
from tests.web.conftest import LiveApp, _free_port, serve, web_settings
from tests.web.seed import seed_mmn

MAX_EXAMPLES = 15


@pytest.fixture
def site(engine: Engine, database_url: str, tmp_path: Path, fake: FakeCtgov) -> Iterator[LiveApp]:
    seed_mmn(engine, fake, extra=3)
    port = _free_port()
    yield from serve(web_settings(database_url, tmp_path, port), engine, port)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error(site: LiveApp, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(site.url + "/openapi.json")
    checks = [not_a_server_error, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {op.path for op in operations} >= {
        "/api/watchlists",
        "/api/watchlists/{slug}/studies",
        "/api/watchlists/{slug}/changes",
        "/api/studies/{nct_id}",
    }
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(base_url=site.url, checks=checks)

        try:
            call()
        except hypothesis.errors.Unsatisfiable:
            # No invalid request exists for this operation (e.g. only free-text parameters).
            assert mode is GenerationMode.NEGATIVE, operation.label
