"""The event browser's filters: every one a query parameter, so a view is a shareable URL."""

from __future__ import annotations

import datetime
import re

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.text import capfirst

from pghistory_admin.lineage import caused_contexts
from pghistory_admin.rows import parse_pk
from pghistory_admin.rules import HistoryRules, event_models

PERIODS = {
    "hour": ("Last hour", datetime.timedelta(hours=1)),
    "day": ("Last 24 hours", datetime.timedelta(days=1)),
    "week": ("Last 7 days", datetime.timedelta(days=7)),
    "month": ("Last 30 days", datetime.timedelta(days=30)),
}

#: Longest free-text value accepted by the text filters.
MAX_TEXT = 200

_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


class _Text(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_TEXT)
        super().__init__(**kwargs)


class MomentField(forms.DateTimeField):
    """A date and time; a date alone means the start of that day, or with `end_of_day` the
    start of the next (so "until 2026-11-27" includes the whole 27th)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1})

    def __init__(self, *, end_of_day: bool = False, **kwargs):
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is not None and self.end_of_day and _DATE_ONLY.match(str(value)):
            try:
                moment += datetime.timedelta(days=1)
            except OverflowError:
                raise ValidationError("Enter a valid date/time.", code="invalid") from None
        return moment

    def prepare_value(self, value):
        if isinstance(value, datetime.datetime):
            return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M:%S")
        return value


class UserField(_Text):
    """A user by user name, or by primary key for a user who has since been deleted."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        user_model = get_user_model()
        user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: value}).first()
        pk = user.pk if user is not None else parse_pk(user_model, value)
        if pk is None:
            raise ValidationError(f"There is no user “{value}”.", code="invalid")
        return pk


class ObjectField(_Text):
    """One object as "app_label.model:pk", for example "shop.order:12"."""

    def __init__(self, *, models_by_key, **kwargs):
        self.models_by_key = models_by_key
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        key, _, pk = value.partition(":")
        model = self.models_by_key.get(key.strip().lower())
        if model is None or not pk:
            raise ValidationError(
                "Enter an object as model:id, for example shop.order:12, of a model whose"
                " history you may see.",
                code="invalid",
            )
        value = parse_pk(model, pk.strip())
        if value is None:
            raise ValidationError(f"“{pk}” is not an id of {key}.", code="invalid")
        return model, value


def _filter_of(field_class: type[forms.Field]) -> type[django_filters.Filter]:
    return type(
        f"{field_class.__name__}Filter", (django_filters.Filter,), {"field_class": field_class}
    )


_TextFilter = _filter_of(_Text)
_MomentFilter = _filter_of(MomentField)
_UserFilter = _filter_of(UserField)
_ObjectFilter = _filter_of(ObjectField)


class EventFilter(django_filters.FilterSet):
    """Narrow the events a user may see; the view adds sorting and pagination."""

    model = django_filters.MultipleChoiceFilter(
        label="Model", method="filter_model", widget=forms.CheckboxSelectMultiple
    )
    label = django_filters.MultipleChoiceFilter(
        label="Event", method="filter_label", widget=forms.CheckboxSelectMultiple
    )
    user = _UserFilter(label="User", method="filter_user")
    period = django_filters.ChoiceFilter(
        label="Period",
        method="filter_period",
        choices=[(key, label) for key, (label, _) in PERIODS.items()],
        empty_label="Any time",
    )
    since = _MomentFilter(label="From", field_name="pgh_created_at", lookup_expr="gte")
    until = _MomentFilter(
        label="Until", field_name="pgh_created_at", lookup_expr="lt", end_of_day=True
    )
    context = django_filters.UUIDFilter(label="Request / context id", field_name="pgh_context_id")
    caused = django_filters.UUIDFilter(label="Caused by request / context", method="filter_caused")
    url = _TextFilter(label="URL contains", method="filter_url")
    object = _ObjectFilter(label="Object", method="filter_object")
    field = django_filters.ChoiceFilter(
        label="Changed field", method="filter_field", empty_label="Any field"
    )
    q = _TextFilter(label="Values contain", method="filter_text")

    def __init__(self, data=None, queryset=None, *, request, rules=None, **kwargs):
        #: What the request may see: the mounting UI's rules (the default rules if none).
        self.rules = rules if rules is not None else HistoryRules()
        self.visible = self.rules.visible_models(request)
        self.models_by_key = {model._meta.label_lower: model for model in self.visible}
        super().__init__(data, queryset, request=request, **kwargs)
        filters = self.filters
        filters["model"].extra["choices"] = [
            (key, capfirst(model._meta.verbose_name)) for key, model in self.models_by_key.items()
        ]
        filters["label"].extra["choices"] = [(label, label) for label in self._labels()]
        filters["field"].extra["choices"] = [(name, name) for name in self._field_names()]
        filters["object"].extra["models_by_key"] = self.models_by_key

    def _labels(self) -> list[str]:
        return sorted(
            {
                tracker.label
                for event_model in event_models()
                if event_model.pgh_tracked_model in self.visible
                for tracker in event_model.pgh_trackers or ()
            }
        )

    def _field_names(self) -> list[str]:
        return sorted({field.name for field in self._tracked_fields(self.visible)})

    @staticmethod
    def _tracked_fields(tracked_models) -> list[models.Field]:
        """The fields that event models store for these tracked models."""
        return [
            field
            for event_model in event_models()
            if event_model.pgh_tracked_model in tracked_models
            for field in event_model.pgh_tracked_fields()
        ]

    def _chosen_models(self) -> list[type[models.Model]]:
        chosen = self.form.cleaned_data.get("model")
        return [self.models_by_key[key] for key in chosen] if chosen else self.visible

    def filter_model(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            pgh_obj_model__in=[self.models_by_key[key]._meta.label for key in value]
        )

    def filter_label(self, queryset, name, value):
        return queryset.filter(pgh_label__in=value) if value else queryset

    def filter_user(self, queryset, name, value):
        return queryset if value is None else queryset.filter(pgh_context__user=value)

    def filter_caused(self, queryset, name, value):
        """The events of the context and of every job descended from it."""
        if value is None:
            return queryset
        return queryset.filter(pgh_context_id__in=caused_contexts(value, queryset.db))

    def filter_period(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(pgh_created_at__gte=timezone.now() - PERIODS[value][1])

    def filter_url(self, queryset, name, value):
        return queryset.filter(pgh_context__url__icontains=value) if value else queryset

    def filter_object(self, queryset, name, value):
        if value is None:
            return queryset
        model, pk = value
        return queryset.filter(pgh_obj_model=model._meta.label, pgh_obj_id=str(pk))

    def filter_field(self, queryset, name, value):
        if not value:
            return queryset
        # Only the event tables that store the field: the others need no diff to be computed.
        storing = {
            event_model: [f.column for f in event_model.pgh_tracked_fields() if f.name == value]
            for event_model in event_models()
            if event_model.pgh_tracked_model in self._chosen_models()
        }
        storing = {model: columns for model, columns in storing.items() if columns}
        columns = sorted({column for columns in storing.values() for column in columns})
        return queryset.across(*storing).filter(pgh_diff__has_any_keys=columns)

    def filter_text(self, queryset, name, value):
        if not value:
            return queryset
        # The values of the diff (or, for an event with no diff, of its stored row) as text,
        # less redacted fields: a search must not tell what they hold.
        stored = Coalesce("pgh_diff", "pgh_data")
        hidden = sorted(
            set().union(
                *(self.rules.redacted_columns(self.request, model) for model in self.visible)
            )
        )
        if hidden:
            stored = _WithoutKeys(stored, models.Value(hidden), output_field=models.JSONField())
        values = _JSONValues(stored)
        return queryset.alias(pgh_values_text=Cast(values, models.TextField())).filter(
            pgh_values_text__icontains=value
        )


class _WithoutKeys(models.Func):
    """`value - keys::text[]`: a JSON object without these keys."""

    template = "(%(expressions)s::text[])"
    arg_joiner = " - "


class _JSONValues(models.Func):
    """`jsonb_path_query_array(value, '$.*')`: the values of a JSON object, without its keys."""

    template = "jsonb_path_query_array(%(expressions)s, '$.*')"
    output_field = models.JSONField()
