"""Offers in the admin: which freed slots are being offered, to whom, and how each ended.

A record of what was offered: nobody edits it by hand (the services own every change).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from offers.models import FreedSlot, SlotOffer


class ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SlotOfferInline(ReadOnly, admin.TabularInline):
    model = SlotOffer
    fields = readonly_fields = (
        "round",
        "rank",
        "patient",
        "status",
        "offered_at",
        "expires_at",
        "used_at",
        "appointment",
    )
    ordering = ["round", "rank"]
    extra = 0


@admin.register(FreedSlot)
class FreedSlotAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["freed", "clinic", "status", "round", "round_ends_at", "booked", "created_at"]
    list_filter = ["status", "clinic"]
    search_fields = ["freed__provider__code", "freed__patient__code", "offers__patient__code"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-pk"]
    list_select_related = ["freed__appointment_type", "freed__provider", "clinic", "booked"]
    readonly_fields = [
        "clinic",
        "freed",
        "overbook",
        "status",
        "round",
        "round_ends_at",
        "booked",
        "end_reason",
        "created_at",
        "closed_at",
    ]
    inlines = [SlotOfferInline]


@admin.register(SlotOffer)
class SlotOfferAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["slot", "patient", "round", "rank", "status", "offered_at", "expires_at", "used_at"]
    list_filter = ["status"]
    search_fields = ["patient__code", "patient__last_name"]
    date_hierarchy = "offered_at"
    ordering = ["-offered_at", "slot", "rank"]
    list_select_related = ["slot", "patient"]
    # Never the token's hash: it opens nothing, but there is no reason to show it.
    exclude = ["token_hash"]
    readonly_fields = [
        "slot",
        "patient",
        "waitlist_entry",
        "round",
        "rank",
        "offered_at",
        "expires_at",
        "status",
        "used_at",
        "appointment",
        "closed_at",
    ]
