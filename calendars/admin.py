"""Calendar feeds in the admin: create one for a provider (its URL shown once), see when each
was last fetched, revoke."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model
from django.http import HttpRequest
from django.urls import reverse

from calendars import services
from calendars.models import CalendarFeed, CalendarFeedQuerySet
from clinic.errors import ValidationFailed
from clinic.roles import has_permission
from scheduling.admin import ServiceSavedAdmin

# Whoever may change a clinic's providers manages their feeds too (the admin role): the
# roles in clinic/roles.py grant nothing on this model of their own.
MANAGES_PROVIDERS = "clinic.change_provider"


class CalendarFeedForm(forms.ModelForm):
    replace = forms.BooleanField(
        required=False,
        label="Replace the provider's current feed",
        help_text="Its URL stops working at once; whoever subscribed to it must subscribe again.",
    )

    class Meta:
        model = CalendarFeed
        fields = ("provider",)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        provider = data.get("provider")
        if provider is not None and not data.get("replace") and provider.calendar_feeds.live().exists():
            self.add_error(
                "provider",
                f"{provider.name} already has a calendar feed: revoke it first, or tick “replace”.",
            )
        return data


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ServiceSavedAdmin):
    list_display = ("provider", "clinic", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = ("provider__clinic", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("provider__code", "provider__name", "prefix", "created_by__username")
    list_select_related = ("provider__clinic", "created_by")
    ordering = ("provider__clinic__name", "provider__code", "-created_at")
    readonly_fields = ("provider", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    autocomplete_fields = ("provider",)
    actions = ("revoke",)
    form = CalendarFeedForm

    @admin.display(description="clinic", ordering="provider__clinic__name")
    def clinic(self, obj: CalendarFeed) -> str:
        return obj.provider.clinic.name

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        return ("provider", "replace") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: CalendarFeed, form: Any, change: bool) -> None:
        if change:
            return  # nothing of a feed is editable
        try:
            feed, raw = services.feed_create(
                provider=obj.provider, actor=request.user, replace=form.cleaned_data.get("replace", False)
            )
        except ValidationFailed as exc:
            # A feed created meanwhile (by the provider at the desk): the admin goes on to
            # that one, and is told nothing new was made.
            existing = obj.provider.calendar_feeds.live().get()
            obj.pk, obj.created_at = existing.pk, existing.created_at
            self.message_user(request, " ".join(exc.details["fields"].values()), messages.ERROR)
            return
        # The admin's redirect and its "added" message read the saved object.
        obj.pk, obj.token_hash, obj.prefix, obj.created_at = (
            feed.pk,
            feed.token_hash,
            feed.prefix,
            feed.created_at,
        )
        url = request.build_absolute_uri(reverse("calendars:feed", args=[raw]))
        self.message_user(
            request,
            f"The calendar feed of {feed.provider.name}: {url} — copy it now, it is not shown again. "
            "Calendar apps subscribe to it as it is (or as webcal://…).",
            messages.WARNING,
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or has_permission(request.user, MANAGES_PROVIDERS)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_view_permission(request, obj) or has_permission(request.user, MANAGES_PROVIDERS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) or has_permission(request.user, MANAGES_PROVIDERS)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # a feed is created, revoked, never edited

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # revoked instead: the row says who made it and when it stopped

    def get_actions(self, request: HttpRequest) -> Any:
        # Revoking is this admin's one change: the admin role may, without a permission of
        # this model's own (see MANAGES_PROVIDERS).
        actions = super().get_actions(request)
        if not (
            has_permission(request.user, "calendars.change_calendarfeed")
            or has_permission(request.user, MANAGES_PROVIDERS)
        ):
            actions.pop("revoke", None)
        return actions

    @admin.action(description="Revoke the selected feeds")
    def revoke(self, request: HttpRequest, queryset: CalendarFeedQuerySet) -> None:
        revoked = services.feeds_revoke(queryset)
        self.message_user(request, f"Revoked {revoked} feed(s); their URLs no longer work.", messages.SUCCESS)
