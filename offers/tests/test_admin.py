"""The admin shows the freed slots and their offers, read-only, without the token's hash."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_admin_lists_slots_and_offers_and_changes_nothing(admin_client, freed):
    slot = freed.slot
    slots = admin_client.get(reverse("admin:offers_freedslot_changelist"), {"q": freed.waiting[0].code})
    assert slots.status_code == 200 and f"/admin/offers/freedslot/{slot.pk}/" in slots.content.decode()
    detail = admin_client.get(reverse("admin:offers_freedslot_change", args=[slot.pk])).content.decode()
    assert all(p.code in detail for p in freed.waiting[:3])
    offers = admin_client.get(reverse("admin:offers_slotoffer_changelist"), {"status": "offered"})
    assert offers.status_code == 200 and offers.context["cl"].result_count == 3
    offer = freed.offer_of(freed.waiting[0])
    page = admin_client.get(reverse("admin:offers_slotoffer_change", args=[offer.pk])).content.decode()
    assert offer.token_hash not in page
    assert admin_client.post(reverse("admin:offers_slotoffer_delete", args=[offer.pk])).status_code == 403
    assert admin_client.get(reverse("admin:offers_slotoffer_add")).status_code == 403
