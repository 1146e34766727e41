"""The company's Sage chart of accounts, cached."""

from __future__ import annotations

from django.db import models

from connector.models.company import Company


class GLAccount(models.Model):
    """The company's Sage chart of accounts, cached; refreshed on demand and before runs."""

    class Status(models.TextChoices):
        ACTIVE = "A", "Active"
        INACTIVE = "I", "Inactive"
        DELETED = "D", "Deleted"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="gl_accounts")
    account = models.CharField(max_length=64, help_text="Formatted account, exactly as Sage returns it.")
    account_key = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=200, blank=True)
    main_account_code = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=1, choices=Status.choices, default=Status.ACTIVE)
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = "GL account"
        ordering = ["company", "account"]
        constraints = [
            models.UniqueConstraint(fields=["company", "account"], name="one_gl_account_per_company"),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.description}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE
