"""Console input validation. Forms only check shapes; the services decide what is allowed."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from console.models import FilterMode
from console.phone import INVALID_NUMBER, to_e164
from messaging.webhooks.models import DeliveryStatus as WebhookDeliveryStatus
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


class BlockedFilterForm(DateRangeMixin):
    identity = forms.ChoiceField(required=False, label="Identity")
    sender = forms.CharField(required=False, label="Sender", max_length=320)

    def __init__(self, *args: Any, handles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "identity", [(h, f"@{h}") for h in handles])

    def clean_sender(self) -> str:
        raw = self.cleaned_data.get("sender", "").strip()
        # Senders are stored in E.164; accept what people paste and normalise it.
        return to_e164(raw) or raw


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


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, label="Status", choices=_with_any(list(WebhookDeliveryStatus.choices))
    )


class AuditFilterForm(DateRangeMixin):
    action = forms.ChoiceField(required=False, label="Action")
    actor = forms.CharField(required=False, label="Actor", max_length=255)
    object_type = forms.CharField(required=False, label="Object type", max_length=64)

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "action", [(a, a) for a in actions])


class ConversationFilterForm(forms.Form):
    identity = forms.ChoiceField(required=False, label="Identity")
    kind = forms.ChoiceField(
        required=False,
        label="Kind",
        choices=[("", "Any"), ("person", "One person"), ("group", "Group (ignored)")],
    )

    def __init__(self, *args: Any, handles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "identity", [(h, f"@{h}") for h in handles])
