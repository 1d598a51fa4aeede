"""Console input validation. Forms only check shapes; the services decide what is allowed."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from console.models import FilterMode
from console.phone import INVALID_NUMBER, number_search_digits, to_e164
from provisioning.models import LineRole, SetupStatus
from routing.models import RuleAction, RuleDirection

DATE_ORDER_INVALID = "The start date must not be after the end date."


def _with_any(choices: list[tuple[str, str]], label: str = "Any") -> list[tuple[str, str]]:
    return [("", label), *choices]


def _set_choices(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = _with_any(choices)


class DateRangeMixin(forms.Form):
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", DATE_ORDER_INVALID)
        return cleaned


class SetupFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, label="Status", choices=_with_any(list(SetupStatus.choices))
    )


class LineRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=LineRole.choices)


class IdempotentForm(forms.Form):
    """A form that creates something at the provider. The hidden token is minted when the
    form is rendered and sent as the service's idempotency key (as the API's
    Idempotency-Key), so a double submit creates one thing."""

    request_token = forms.RegexField(
        widget=forms.HiddenInput, regex=r"^[A-Za-z0-9_-]{1,64}$", max_length=64
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["request_token"].initial = uuid.uuid4().hex

    def idempotency_key(self) -> str:
        return f"console:{self.cleaned_data['request_token']}"


class LineAddForm(IdempotentForm):
    """Order one more line on a setup."""

    role = forms.ChoiceField(label="Role", choices=LineRole.choices, initial=LineRole.DEDICATED)

    def __init__(self, *args: Any, platform: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = self.fields["role"]
        assert isinstance(role, forms.ChoiceField)
        if not platform:
            # Router and pool lines belong to platform setups.
            role.choices = [(LineRole.DEDICATED, LineRole.DEDICATED.label)]


class SetupCreateForm(IdempotentForm):
    """A new provider subaccount for one of the organisations the viewer operates."""

    organization = forms.ChoiceField(label="Organisation")
    business_name = forms.CharField(
        label="Business name",
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Riverside Clinic LLC"}),
    )
    label = forms.CharField(
        label="Label", max_length=200, widget=forms.TextInput(attrs={"placeholder": "Front desk"})
    )

    def __init__(self, *args: Any, organizations: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = organizations
        if len(organizations) == 1:
            field.initial = organizations[0][0]
            field.widget = forms.HiddenInput()


REVIEW_FILTER_CHOICES = [
    ("waiting", "Waiting for review"),
    ("allowed", "Sender allowed"),
    ("kept", "Kept blocked"),
    ("all", "All"),
]
DECISION_CHOICES = [("allowed", "Allow this sender"), ("kept", "Keep blocked")]
RELEASE_LABEL = "Also deliver this held message to the agent now"


class BlockedFilterForm(DateRangeMixin):
    review = forms.ChoiceField(
        required=False, label="Review", choices=REVIEW_FILTER_CHOICES, initial="waiting"
    )
    identity = forms.ChoiceField(required=False, label="Identity")
    sender = forms.CharField(
        required=False,
        label="Sender",
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "0199 or (415) 555-0199"}),
    )

    field_order = ["review", "identity", "sender", "date_from", "date_to"]

    def __init__(self, *args: Any, handles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "identity", [(h, f"@{h}") for h in handles])

    def clean_sender(self) -> str:
        # Matched on its digits by the selector: partial and formatted input both work.
        return str(self.cleaned_data.get("sender", "")).strip()


class AllowForm(forms.Form):
    release = forms.BooleanField(required=False, label=RELEASE_LABEL)


class DecisionChangeForm(forms.Form):
    decision = forms.ChoiceField(label="New decision", choices=DECISION_CHOICES)
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"required": "Give a reason for changing the decision."},
    )
    release = forms.BooleanField(required=False, label=RELEASE_LABEL)


class BulkDecisionForm(forms.Form):
    decision = forms.ChoiceField(label="Action", choices=DECISION_CHOICES)
    ids = forms.TypedMultipleChoiceField(required=True, coerce=uuid.UUID)
    confirm = forms.BooleanField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any well-formed id is accepted here; the scope decides which exist.
        field = self.fields["ids"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.valid_value = lambda value: True  # type: ignore[method-assign]
        field.error_messages["required"] = "Select at least one message."

    def clean_ids(self) -> list[uuid.UUID]:
        ids = self.cleaned_data.get("ids") or []
        return list(dict.fromkeys(ids))[:200]


class PhoneNumberField(forms.CharField):
    def clean(self, value: Any) -> str:
        text = super().clean(value)
        number = to_e164(text)
        if number is None:
            raise forms.ValidationError(INVALID_NUMBER, code="invalid")
        return number


class RuleCreateForm(forms.Form):
    match_target = PhoneNumberField(
        label="Phone number",
        max_length=32,
        widget=forms.TextInput(attrs={"placeholder": "+14155550123", "autocomplete": "off"}),
    )
    action = forms.ChoiceField(label="Action", choices=RuleAction.choices)
    direction = forms.ChoiceField(
        label="Direction", choices=RuleDirection.choices, initial=RuleDirection.BOTH
    )


class RuleUpdateForm(forms.Form):
    action = forms.ChoiceField(label="Action", choices=RuleAction.choices)
    direction = forms.ChoiceField(label="Direction", choices=RuleDirection.choices)


class RuleStatusForm(forms.Form):
    paused = forms.BooleanField(required=False, label="Paused")


class FilterModeForm(forms.Form):
    mode = forms.ChoiceField(label="Filter mode", choices=FilterMode.choices)


NUMBER_SEARCH_INVALID = "Enter part of a phone number: at least 3 digits."


class NumberSearchField(forms.CharField):
    """Part of a phone number as people write it (`0199`, `(415) 555-0199`, `+1 415`),
    cleaned to the digits to look for."""

    def clean(self, value: Any) -> str:
        text = super().clean(value)
        if not text:
            return ""
        digits = number_search_digits(text)
        if not digits:
            raise forms.ValidationError(NUMBER_SEARCH_INVALID, code="invalid")
        return digits


class ConversationFilterForm(forms.Form):
    number = NumberSearchField(
        required=False,
        label="Phone number",
        max_length=32,
        widget=forms.TextInput(attrs={"placeholder": "0199 or (415) 555-0199", "type": "search"}),
    )
    identity = forms.ChoiceField(required=False, label="Identity")
    kind = forms.ChoiceField(
        required=False,
        label="Kind",
        choices=[("", "Any"), ("person", "One person"), ("group", "Group (ignored)")],
    )
    sort = forms.ChoiceField(
        required=False,
        label="Sort",
        choices=[("", "Newest activity first"), ("oldest", "Oldest activity first")],
    )

    def __init__(self, *args: Any, handles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "identity", [(h, f"@{h}") for h in handles])


class RetentionForm(forms.Form):
    organization = forms.UUIDField(widget=forms.HiddenInput)
    days = forms.IntegerField(
        label="Keep message text for (days)",
        min_value=0,
        max_value=36_500,
        help_text="0 keeps messages forever.",
    )


class LegalHoldForm(forms.Form):
    """Hold one person's number, one identity (@handle) or one conversation (its id)."""

    organization = forms.UUIDField(widget=forms.HiddenInput)
    kind = forms.ChoiceField(
        label="Hold",
        choices=[
            ("number", "A person's number"),
            ("identity", "An identity (@handle)"),
            ("conversation", "A conversation (id)"),
        ],
    )
    target = forms.CharField(label="Number, @handle or conversation id", max_length=320)
    reason = forms.CharField(
        label="Reason", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class HoldLiftForm(forms.Form):
    reason = forms.CharField(label="Why lift it", max_length=2000)


class PersonExportForm(forms.Form):
    organization = forms.UUIDField(widget=forms.HiddenInput)
    number = forms.CharField(label="Person's number", max_length=40)
    reason = forms.CharField(label="Reason (kept in the audit log)", max_length=2000)
