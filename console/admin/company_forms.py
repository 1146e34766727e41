"""The company page's own form: segment names one per box, comma lists, policy IDs as a comma list."""

from __future__ import annotations

from typing import Any

from django import forms

from connector.models import Company

MAX_SEGMENTS = 6


class SegmentNamesWidget(forms.MultiWidget):
    """One text box per account segment, in order."""

    def __init__(self) -> None:
        super().__init__(
            [
                forms.TextInput(
                    attrs={"size": 14, "placeholder": f"Segment {i + 1}", "aria-label": f"Segment {i + 1}"}
                )
                for i in range(MAX_SEGMENTS)
            ]
        )

    def decompress(self, value: Any) -> list[str]:
        names = [str(v) for v in (value or [])][:MAX_SEGMENTS]
        return names + [""] * (MAX_SEGMENTS - len(names))


class SegmentNamesField(forms.MultiValueField):
    """Segment names typed one per box; empty boxes at the end are dropped."""

    widget = SegmentNamesWidget

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("encoder", None)
        kwargs.pop("decoder", None)
        kwargs.pop("max_length", None)
        super().__init__(
            fields=[forms.CharField(required=False, max_length=40) for _ in range(MAX_SEGMENTS)],
            require_all_fields=False,
            required=False,
            **kwargs,
        )

    def compress(self, data_list: list[str]) -> list[str]:
        names = [(name or "").strip() for name in data_list or []]
        while names and not names[-1]:
            names.pop()
        if "" in names:
            raise forms.ValidationError("Name every segment up to the last one (a box in between is empty).")
        return names


class CommaListField(forms.CharField):
    """A JSON list edited as "Department, Location"."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("encoder", None)
        kwargs.pop("decoder", None)
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [part.strip() for part in text.split(",") if part.strip()]


class CompanyForm(forms.ModelForm):  # type: ignore[type-arg]
    """The company page; policy IDs are a comma list here, CompanyPolicy rows underneath."""

    segment_names = SegmentNamesField(
        label="Segment names",
        help_text="The account mask's segments in order, e.g. Main, Department, Location.",
    )
    required_segments = CommaListField(
        label="Required segments",
        help_text="Segment names (or numbers) a tag must set, comma-separated; an unmapped tag value "
        "there makes the report need a mapping. E.g. Department.",
    )

    expensify_policy_ids = forms.CharField(
        label="Expensify policy IDs",
        required=False,
        max_length=2000,
        help_text=(
            "Comma-separated Expensify policy (workspace) IDs. A policy belongs to one company; "
            "no policy listed = nothing is exported."
        ),
    )

    class Meta:
        model = Company
        fields = (
            "name",
            "code",
            "enabled",
            "export_label",
            "export_start_date",
            "include_archived",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "expensify_policy_ids" not in self.initial:
            self.initial["expensify_policy_ids"] = ", ".join(self.instance.policy_ids)

    def clean_expensify_policy_ids(self) -> str:
        value: str = self.cleaned_data.get("expensify_policy_ids") or ""
        ids = [p.strip() for p in value.split(",") if p.strip()]
        too_long = [p for p in ids if len(p) > 100]
        if too_long:
            raise forms.ValidationError(
                f"Not an Expensify policy ID (over 100 characters): {too_long[0][:20]}..."
            )
        return ",".join(dict.fromkeys(ids))

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if "expensify_policy_ids" in cleaned:
            # Set before the model's clean() (run next, in _post_clean), which names another company
            # holding a policy.
            self.instance.expensify_policy_ids = cleaned["expensify_policy_ids"]
        return cleaned
