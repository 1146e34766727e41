"""A company's pinned agent certificate (issue 15): checked as PEM, carried on SageSettings (never
in its repr), and the only authority the agent client trusts (the real agent process, HTTPS)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from connector.sage100.errors import SageTransientError
from connector.sage100.gateway import SageSettings, open_gateway, settings_for_company

mlc_testing = pytest.importorskip("mlc_agent.testing", reason="install agent/ (make test-agent)")


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from simulators.sage100.demo import demo

    data = demo()
    proc = mlc_testing.make_agent(
        tmp_path_factory.mktemp("agent"),
        {"sageVersion": data["sageVersion"], "users": data["users"], "companies": data["companies"]},
        companies=["ABC:2"],
    )
    proc.start()
    yield proc
    proc.stop()


def agent_settings(agent: Any, **changes: Any) -> SageSettings:
    from simulators.sage100.demo import DEMO_PASSWORD, DEMO_USERNAME

    settings = SageSettings(
        transport="agent",
        base_url=agent.base_url,
        agent_api_key=agent.api_key,
        username=DEMO_USERNAME,
        password=DEMO_PASSWORD,
        company_code="ABC",
        connect_timeout=5.0,
        read_timeout=10.0,
    )
    return dataclasses.replace(settings, **changes)


def test_the_pinned_certificate_is_the_only_trust(agent: Any, tmp_path: Path) -> None:
    from mlc_agent.security import make_self_signed

    pem = agent.cert.read_text()
    with open_gateway(agent_settings(agent, agent_certificate=pem)) as gateway:  # type: ignore[attr-defined]
        assert gateway.ping().max_concurrent_writes == 2
    make_self_signed(tmp_path / "other.crt", tmp_path / "other.key", ["127.0.0.1"])
    for other in ("", (tmp_path / "other.crt").read_text()):
        with open_gateway(agent_settings(agent, agent_certificate=other)) as gateway:  # type: ignore[attr-defined]
            with pytest.raises(SageTransientError):
                gateway.ping()


def test_settings_carry_the_companys_certificate_but_never_show_it(agent: Any, db: None) -> None:
    from tests.factories import CompanyFactory, SageConnectionFactory

    pem = agent.cert.read_text()
    company = CompanyFactory(code="T1P")
    SageConnectionFactory(company=company, base_url=agent.base_url, agent_certificate=pem)
    company.refresh_from_db()
    settings = settings_for_company(company)
    assert settings.agent_certificate == pem
    assert "BEGIN CERTIFICATE" not in repr(settings) and "pinned" in repr(settings)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not a certificate", "Not a PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "could not be read"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "private key"),
    ],
)
def test_the_company_page_refuses_what_is_not_a_certificate(text: str, words: str, db: None) -> None:
    from tests.factories import CompanyFactory, SageConnectionFactory

    connection = SageConnectionFactory.build(company=CompanyFactory(code="T1Q"), agent_certificate=text)
    with pytest.raises(ValidationError) as caught:
        connection.clean()
    assert words in str(caught.value.message_dict["agent_certificate"])


def test_the_company_page_accepts_the_agents_certificate(agent: Any, db: None) -> None:
    from tests.factories import CompanyFactory, SageConnectionFactory

    connection = SageConnectionFactory.build(
        company=CompanyFactory(code="T1R"), agent_certificate=agent.cert.read_text()
    )
    connection.clean()
