"""How a company reaches Expensify and Sage 100: its credentials, secrets encrypted.

redact() caches every company's credentials, so a saved or deleted one makes it read them
again (the receivers below are connected once, when this module is imported).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.signals import post_delete, post_save

from connector.fields import SecretField
from connector.models.company import Company


class ExpensifyCredential(models.Model):
    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="expensify")
    base_url = models.URLField(
        default="https://integrations.expensify.com/Integration-Server/ExpensifyIntegrations"
    )
    partner_user_id = models.CharField(max_length=200)
    partner_user_secret = SecretField()
    timeout_seconds = models.PositiveSmallIntegerField(default=60)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Expensify credential"

    def __str__(self) -> str:
        return f"Expensify for {self.company.code}"

    def clean(self) -> None:
        from connector.hosts import url_refused

        refused = url_refused(self.base_url or "")
        if refused is not None:
            raise ValidationError({"base_url": f"The Expensify URL {self.base_url!r} {refused}."})


class SageTransport(models.TextChoices):
    AGENT = "agent", "Windows agent (HTTP JSON)"
    SOAP = "soap", "SOAP service"


class SageConnection(models.Model):
    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="sage")
    transport = models.CharField(max_length=10, choices=SageTransport.choices, default=SageTransport.AGENT)
    base_url = models.URLField(help_text="Agent: https://host:port ; SOAP: the masservice.svc URL.")
    agent_api_key = SecretField(help_text="Agent transport only.")
    sage_username = models.CharField(max_length=100)
    sage_password = SecretField()
    agent_certificate = models.TextField(
        blank=True,
        help_text=(
            "Agent transport: the agent's certificate (PEM), when it is self-signed "
            "(python -m mlc_agent cert prints it). Blank: the system's trusted authorities. "
            "See docs/agent.md."
        ),
    )
    connect_timeout = models.PositiveSmallIntegerField(default=10)
    read_timeout = models.PositiveSmallIntegerField(default=60)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Sage 100 connection"

    def __str__(self) -> str:
        return f"Sage 100 ({self.get_transport_display()}) for {self.company.code}"

    def clean(self) -> None:
        from connector.hosts import url_refused
        from connector.limits import MAX_CONNECT_TIMEOUT_SECONDS, MAX_READ_TIMEOUT_SECONDS

        # A call must end well within the write slot's and the run's leases.
        too_long = {
            name: f"At most {limit} seconds (a Sage 100 call may not stay open longer)."
            for name, limit in (
                ("connect_timeout", MAX_CONNECT_TIMEOUT_SECONDS),
                ("read_timeout", MAX_READ_TIMEOUT_SECONDS),
            )
            if getattr(self, name) is not None and getattr(self, name) > limit
        }
        if too_long:
            raise ValidationError(too_long)
        refused = url_refused(self.base_url or "")
        if refused is not None:
            code = self.company.code if self.company_id else ""
            raise ValidationError(
                {"base_url": f"The Sage 100 URL {self.base_url!r} for company {code} {refused}."}
            )
        if self.agent_certificate.strip():
            from connector.certificates import CertificateError, check_pem_certificate

            try:
                check_pem_certificate(self.agent_certificate)
            except CertificateError as exc:
                raise ValidationError({"agent_certificate": str(exc)}) from None
        if self.transport == SageTransport.AGENT and not self.agent_api_key and self.pk is None:
            raise ValidationError({"agent_api_key": "The agent transport needs the agent's API key."})


def _credential_changed(sender: Any, **kwargs: Any) -> None:
    from connector.logs import forget_stored_secrets

    forget_stored_secrets()


# redact() caches every company's credentials: a saved or deleted one must be re-read.
for _model in (ExpensifyCredential, SageConnection):
    post_save.connect(_credential_changed, sender=_model, dispatch_uid=f"mlc-redact-save-{_model.__name__}")
    post_delete.connect(_credential_changed, sender=_model, dispatch_uid=f"mlc-redact-del-{_model.__name__}")
