"""Per-company mappings: category -> GL account, tag value -> account segment, employee -> offset."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from connector.models import Company
from connector.sage100.mask import AccountFormatError, MaskError


def _format_with_company_mask(company: Company, field: str, value: str) -> str:
    try:
        return company.mask.format(value)
    except (AccountFormatError, MaskError) as exc:
        message = f"{exc} (company {company.code} mask {company.account_mask})"
        raise ValidationError({field: message}) from None


class CategoryMapping(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="category_mappings")
    category = models.CharField(
        max_length=200, help_text="Expensify category name, exactly as in the policy."
    )
    account = models.CharField(max_length=64, help_text="Full formatted Sage GL account.")
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["company", "category"]
        permissions = [
            ("import_categorymapping", "Can import category mappings"),
            ("export_categorymapping", "Can export category mappings"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["company", "category"], name="one_mapping_per_category"),
            models.CheckConstraint(condition=~Q(category=""), name="category_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.category} → {self.account}"

    def clean(self) -> None:
        self.category = (self.category or "").strip()
        if not self.category:
            raise ValidationError({"category": "Category is empty."})
        if self.company_id:
            self.account = _format_with_company_mask(self.company, "account", self.account or "")


class TagMapping(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="tag_mappings")
    tag_level = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="1 = first tag level (multi-level tags)."
    )
    tag_value = models.CharField(max_length=200, help_text="The tag's value at that level.")
    segment = models.CharField(max_length=50, help_text="Segment to set: its name or number (e.g. 2).")
    code = models.CharField(max_length=32, help_text="The segment code to put in the account.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["company", "tag_level", "tag_value"]
        permissions = [
            ("import_tagmapping", "Can import tag mappings"),
            ("export_tagmapping", "Can export tag mappings"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "tag_level", "tag_value"], name="one_mapping_per_tag_value"
            ),
            models.CheckConstraint(condition=Q(tag_level__gte=1), name="tag_level_from_1"),
        ]

    def __str__(self) -> str:
        return f"L{self.tag_level} {self.tag_value} → {self.segment}={self.code}"

    def clean(self) -> None:
        self.tag_value = (self.tag_value or "").strip()
        if not self.tag_value:
            raise ValidationError({"tag_value": "Tag value is empty."})
        if not self.company_id:
            return
        try:
            mask = self.company.mask
            index = mask.segment_index(self.segment or "")
            self.code = mask.format_segment(index, self.code or "")
        except (AccountFormatError, MaskError) as exc:
            raise ValidationError({"code": str(exc)}) from None


class EmployeeMapping(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="employee_mappings")
    employee_email = models.EmailField()
    reimbursable_offset_account = models.CharField(
        max_length=64, help_text="Overrides the company's reimbursement liability account."
    )
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["company", "employee_email"]
        permissions = [
            ("import_employeemapping", "Can import employee mappings"),
            ("export_employeemapping", "Can export employee mappings"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["company", "employee_email"], name="one_mapping_per_employee"),
        ]

    def __str__(self) -> str:
        return f"{self.employee_email} → {self.reimbursable_offset_account}"

    def clean(self) -> None:
        self.employee_email = (self.employee_email or "").strip().lower()
        if self.company_id:
            self.reimbursable_offset_account = _format_with_company_mask(
                self.company, "reimbursable_offset_account", self.reimbursable_offset_account or ""
            )


class PolicyTagList(models.Model):
    """When the tag lists of a company's Expensify policies were last fetched (one row per company).

    Kept apart from the tags so that a fetch that found no tags still counts as fetched.
    """

    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="policy_tag_list")
    fetched_at = models.DateTimeField()
    policy_ids = models.JSONField(default=list, help_text="The policies whose tags were fetched.")

    def __str__(self) -> str:
        return f"{self.company} tags fetched {self.fetched_at:%Y-%m-%d %H:%M}"


class PolicyTag(models.Model):
    """One tag value at one level of a company's Expensify policy, as Expensify last listed it."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="policy_tags")
    policy_id = models.CharField(max_length=64)
    level = models.PositiveSmallIntegerField(help_text="1 = first tag level, as TagMapping.tag_level.")
    name = models.CharField(max_length=200, help_text="The value at that level, unescaped.")
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["company", "policy_id", "level", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "policy_id", "level", "name"], name="one_policy_tag_per_level"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy_id} L{self.level} {self.name}"


__all__ = ["CategoryMapping", "EmployeeMapping", "PolicyTag", "PolicyTagList", "TagMapping"]
