"""Data-driven overbooking (issue 12, items 2 and 4): the binomial calculation against an
independent one, the rates read from a seeded history, too little data, applying, the API
and the admin's recommendations page."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pytest
import requests
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry

from clinic.errors import NotFound, SlotUnavailable, ValidationFailed
from clinic.models import ApiToken, Membership, OverbookingRule
from clinic.tests.factories import (
    AppointmentTypeFactory,
    ClinicFactory,
    PatientFactory,
    ProviderFactory,
    RoomFactory,
    WorkingHoursFactory,
)
from scheduling import overbooking, services
from scheduling.models import Appointment, AppointmentStatus
from scheduling.overbooking import Recommendation, extra_seats, recommend
from scheduling.tests.conftest import make_user
from scheduling.tests.factories import AppointmentFactory

# The history is seeded around the real now, so that the API and the admin, which ask at
# their own now a moment later, read the same history the direct calls do.
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


# --- An independent calculation ---------------------------------------------------------


def tail(trials: int, p: float, above: int) -> float:
    """P(X > above), X ~ Binomial(trials, p), summed term by term from math.comb."""
    total = 0.0
    for x in range(above + 1, trials + 1):
        total += math.comb(trials, x) * p**x * (1 - p) ** (trials - x)
    return total


def most_extra(rate: float, seats: int, limit: float, cap: int = 20) -> int:
    """The most k with P(Binomial(seats + k, 1 - rate) > seats) < limit, by trying every k."""
    allowed = [k for k in range(cap + 1) if k == 0 or tail(seats + k, 1 - rate, seats) < limit]
    # The risk grows with k: the allowed ones are 0..best with no gap.
    assert allowed == list(range(len(allowed)))
    return allowed[-1]


# --- The pure calculation ---------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.08, 0.15, 0.2, 0.3, 0.45, 0.6, 0.75])
@pytest.mark.parametrize("seats", [1, 4, 8, 16])
@pytest.mark.parametrize("limit", [0.01, 0.05, 0.2])
def test_extra_seats_match_an_independent_binomial_calculation(rate, seats, limit):
    k, risk = extra_seats(rate, seats, limit)

    assert k == most_extra(rate, seats, limit)
    assert risk == pytest.approx(tail(seats + k, 1 - rate, seats), abs=1e-12)
    assert risk < limit


@pytest.mark.parametrize(
    ("rate", "seats", "expected"),
    [
        # 16 seats: one extra patient is safe once (1 - rate) ** 17 < 5 %, i.e. rate > 16.15 %.
        (0.16, 16, 0),
        (0.17, 16, 1),
        # Two extras: P(X >= 17 of 18) = 18 p^17 q + p^18 < 5 % from about 23.6 %.
        (0.23, 16, 1),
        (0.24, 16, 2),
        # 8 seats: (1 - rate) ** 9 < 5 % from rate > 28.3 %.
        (0.28, 8, 0),
        (0.29, 8, 1),
    ],
)
def test_the_boundary_where_one_more_seat_becomes_safe(rate, seats, expected):
    k, risk = extra_seats(rate, seats, 0.05)

    assert k == expected
    assert tail(seats + k + 1, 1 - rate, seats) >= 0.05  # one more would cross the limit


def test_a_risk_equal_to_the_limit_is_not_below_it():
    # One seat, a 50 % rate: one extra patient means both come with 25 %.
    assert extra_seats(0.5, 1, 0.25) == (0, 0.0)
    assert extra_seats(0.5, 1, 0.2500001) == (1, pytest.approx(0.25))


def test_the_cap_bounds_the_answer_and_inputs_are_checked():
    assert extra_seats(0.99, 4, 0.05, cap=3)[0] == 3
    assert extra_seats(1.0, 4, 0.05)[0] == overbooking.MAX_EXTRA_PER_SESSION
    for bad in [(-0.1, 4, 0.05), (1.1, 4, 0.05), (0.1, 0, 0.05), (0.1, 4, 1.5)]:
        with pytest.raises(ValueError):
            extra_seats(*bad)


@pytest.mark.parametrize(("rate", "seats"), [(0.2, 16), (0.3, 8), (0.5, 8), (0.7, 8), (0.75, 4)])
def test_the_rule_is_safe_even_when_every_seat_takes_its_extra_patients(rate, seats):
    advice = overbooking.advise(rate, [seats], 0.05)
    k = most_extra(rate, seats, 0.05)

    assert advice.extra_per_session == k
    assert advice.max_extra == k // seats
    # A session full of the rule: max_extra more patients at each of its seats.
    full = seats * advice.max_extra
    assert advice.risk == pytest.approx(tail(seats + full, 1 - rate, seats), abs=1e-12)
    assert advice.risk < 0.05
    assert tail(seats + seats * (advice.max_extra + 1), 1 - rate, seats) >= 0.05


def test_the_most_cautious_session_decides():
    # At 30 %, a 4-seat session takes no extra patient, an 8-seat one takes one.
    assert most_extra(0.3, 4, 0.05) == 0
    assert most_extra(0.3, 8, 0.05) == 1

    advice = overbooking.advise(0.3, [8, 4, 8], 0.05)

    assert (advice.session_seats, advice.extra_per_session) == (4, 0)


@pytest.mark.parametrize(("rate", "seats", "extra"), [(0.3, 8, 1), (0.2, 16, 1), (0.5, 8, 3), (0.1, 4, 0)])
def test_extra_patients_seen_is_the_expected_gain_within_the_seats(rate, seats, extra):
    p = 1 - rate
    seen = sum(
        min(x, seats) * math.comb(seats + extra, x) * p**x * rate ** (seats + extra - x)
        for x in range(seats + extra + 1)
    )

    assert overbooking.extra_patients_seen(rate, seats, extra) == pytest.approx(seen - seats * p)


@pytest.mark.parametrize(
    ("window", "duration", "before", "after", "expected"),
    [
        (240, 30, 0, 0, 8),
        (240, 30, 0, 10, 5),  # 40-minute blocks on a 15-minute grid start every 45 minutes
        (240, 20, 0, 0, 8),  # 20 minutes on a 15-minute grid: every 30 minutes
        (240, 45, 0, 0, 5),
        (240, 30, 10, 0, 5),  # the first start waits for the buffer: 08:15, 09:00, ...
        (25, 30, 0, 0, 0),
        (30, 30, 0, 0, 1),
    ],
)
def test_seats_in_a_window_follow_the_engines_grid(window, duration, before, after, expected):
    seats = overbooking.seats_in_window(
        window,
        slot_minutes=15,
        duration_minutes=duration,
        buffer_before_minutes=before,
        buffer_after_minutes=after,
    )

    assert seats == expected


def test_touching_windows_are_one_session():
    hours = [
        (0, dt.time(8), dt.time(10)),
        (0, dt.time(10), dt.time(12)),
        (0, dt.time(13), dt.time(17)),
        (2, dt.time(9), dt.time(11)),
    ]

    assert sorted(overbooking.session_lengths(hours)) == [120, 240, 240]


# --- The clinic's history ---------------------------------------------------------------


def seed(clinic, provider, kind, *, attended: int, no_shows: int, end: dt.datetime):
    """Appointments of ``kind`` with ``provider``, one an hour, the last ending at ``end``;
    one patient and one room each (a quarter of the attended are still checked in, which
    holds the time)."""
    patient = PatientFactory(clinic=clinic, code=f"p-history-{provider.code}-{kind.code}-{end:%Y%m%d%H}")
    room = RoomFactory(clinic=clinic, code=f"r-history-{provider.code}-{kind.code}-{end:%Y%m%d%H}")
    statuses = [AppointmentStatus.COMPLETED] * (attended - attended // 4) + [AppointmentStatus.CHECKED_IN] * (
        attended // 4
    )
    Appointment.objects.bulk_create(
        AppointmentFactory.build(
            clinic=clinic,
            provider=provider,
            appointment_type=kind,
            start=end - dt.timedelta(hours=hour, minutes=kind.duration_minutes),
            status=status,
            patient=patient,
            room=room,
        )
        for hour, status in enumerate([*statuses, *[AppointmentStatus.NO_SHOW] * no_shows])
    )


@pytest.fixture
def history(small_clinic):
    """dr-a consult 20 % (40), dr-b consult 30 % (30), dr-b ecg 70 % (30), dr-a ecg 10
    only; plus outcomes outside the window and statuses without an outcome, all ignored."""
    c = small_clinic
    dr_a, dr_b = c["providers"]
    recent = NOW - dt.timedelta(days=10)
    seed(c["clinic"], dr_a, c["consult"], attended=32, no_shows=8, end=recent)
    seed(c["clinic"], dr_b, c["consult"], attended=21, no_shows=9, end=recent)
    seed(c["clinic"], dr_b, c["ecg"], attended=9, no_shows=21, end=recent - dt.timedelta(days=3))
    seed(c["clinic"], dr_a, c["ecg"], attended=8, no_shows=2, end=recent - dt.timedelta(days=3))
    # Ended 91 days ago: outside the 90 days.
    seed(c["clinic"], dr_a, c["consult"], attended=0, no_shows=30, end=NOW - dt.timedelta(days=91))
    # Cancelled, booked: no outcome. Ending after now: not yet history.
    for status in (AppointmentStatus.CANCELLED, AppointmentStatus.BOOKED):
        AppointmentFactory(
            clinic=c["clinic"],
            provider=dr_a,
            appointment_type=c["consult"],
            status=status,
            start=recent,
            patient=c["patients"][0],
            room=c["rooms"][0],
        )
    seed(c["clinic"], dr_a, c["consult"], attended=0, no_shows=5, end=NOW + dt.timedelta(days=1))
    return c


def by_pair(found: list[Recommendation]) -> dict[tuple[str, str], Recommendation]:
    return {(r.provider, r.appointment_type): r for r in found}


def test_recommend_reads_the_rates_per_provider_and_type(history):
    found = recommend(history["clinic"], now=NOW)

    assert [(r.provider, r.appointment_type) for r in found] == [
        ("dr-a", "consult"),
        ("dr-a", "ecg"),
        ("dr-b", "consult"),
        ("dr-b", "ecg"),
    ]
    rows = by_pair(found)
    expected = {
        ("dr-a", "consult"): (40, 8, 0.2),
        ("dr-a", "ecg"): (10, 2, 0.2),
        ("dr-b", "consult"): (30, 9, 0.3),
        ("dr-b", "ecg"): (30, 21, 0.7),
    }
    for pair, (appointments, no_shows, rate) in expected.items():
        assert (rows[pair].appointments, rows[pair].no_shows, rows[pair].no_show_rate) == (
            appointments,
            no_shows,
            rate,
        ), pair


def test_recommend_computes_seats_extra_risk_and_minutes(history):
    rows = by_pair(recommend(history["clinic"], now=NOW))

    # Consult: 30 minutes, 8 per 4-hour window. At 30 % one extra patient per session is
    # safe, but not one per seat.
    consult = rows["dr-b", "consult"]
    assert consult.session_seats == 8
    assert consult.extra_per_session == most_extra(0.3, 8, 0.05) == 1
    assert consult.session_risk == pytest.approx(tail(9, 0.7, 8), abs=1e-6)
    assert consult.max_extra == 0
    assert (consult.risk, consult.expected_minutes_won) == (0.0, 0.0)
    gain = overbooking.extra_patients_seen(0.3, 8, 1)
    assert consult.session_minutes_won == pytest.approx(gain * 30, abs=0.01)
    assert consult.recommended and consult.note == ""
    # ECG: 30 minutes and 10 after, 5 per window. At 70 %, a session can take an extra
    # patient at each of its seats.
    ecg = rows["dr-b", "ecg"]
    assert ecg.session_seats == 5
    k = most_extra(0.7, 5, 0.05)
    assert (ecg.extra_per_session, ecg.max_extra) == (k, k // 5) == (k, 1)
    assert ecg.risk == pytest.approx(tail(10, 0.3, 5), abs=1e-6)
    assert ecg.expected_minutes_won == pytest.approx(
        overbooking.extra_patients_seen(0.7, 5, 5) * 30, abs=0.01
    )


def test_too_little_data_gives_no_recommendation(history):
    rows = by_pair(recommend(history["clinic"], now=NOW))

    few = rows["dr-a", "ecg"]
    assert not few.recommended
    assert (few.max_extra, few.extra_per_session, few.risk) == (0, 0, 0.0)
    assert "Only 10 appointment(s)" in few.note and "at least 30" in few.note


def test_a_shorter_history_and_a_looser_limit_change_the_answer(history):
    clinic = history["clinic"]
    assert all(not r.recommended for r in recommend(clinic, now=NOW, days=5))

    clinic.overbooking_risk = 0.3
    consult = by_pair(recommend(clinic, now=NOW))["dr-b", "consult"]

    assert consult.extra_per_session == most_extra(0.3, 8, 0.3) > 1


def test_a_provider_with_no_window_long_enough_gets_no_recommendation(history):
    clinic = history["clinic"]
    short = ProviderFactory(clinic=clinic, code="dr-short")
    WorkingHoursFactory(provider=short, weekday=0, start=dt.time(8), end=dt.time(8, 20))
    seed(clinic, short, history["consult"], attended=40, no_shows=10, end=NOW - dt.timedelta(days=1))

    row = by_pair(recommend(clinic, now=NOW))["dr-short", "consult"]

    assert (row.appointments, row.session_seats, row.max_extra) == (50, 0, 0)
    assert "no working window long enough" in row.note


def test_only_the_types_a_provider_performs_are_listed(history):
    history["ecg"].providers.add(history["providers"][1])

    pairs = [(r.provider, r.appointment_type) for r in recommend(history["clinic"], now=NOW)]

    assert ("dr-a", "ecg") not in pairs and ("dr-b", "ecg") in pairs


def test_current_max_extra_is_what_the_rules_give_today(history):
    clinic, dr_b = history["clinic"], history["providers"][1]
    OverbookingRule.objects.create(clinic=clinic, max_extra=2)
    OverbookingRule.objects.create(clinic=clinic, provider=dr_b, max_extra=1)
    OverbookingRule.objects.create(clinic=clinic, provider=dr_b, appointment_type=history["ecg"], max_extra=3)

    rows = by_pair(recommend(clinic, now=NOW))

    assert {pair: r.current_max_extra for pair, r in rows.items()} == {
        ("dr-a", "consult"): 2,
        ("dr-a", "ecg"): 2,
        ("dr-b", "consult"): 1,
        ("dr-b", "ecg"): 3,
    }


def test_recommend_reads_in_a_fixed_number_of_queries(history, django_assert_num_queries):
    with django_assert_num_queries(6):
        recommend(history["clinic"], now=NOW)


def test_days_out_of_range_is_refused(history):
    with pytest.raises(ValidationFailed):
        recommend(history["clinic"], now=NOW, days=0)


def test_another_clinics_history_does_not_count(history):
    other = ClinicFactory(code="hillside")
    kind = AppointmentTypeFactory(clinic=other, code="consult")
    seed(other, ProviderFactory(clinic=other, code="dr-a"), kind, attended=0, no_shows=50, end=NOW)

    assert by_pair(recommend(history["clinic"], now=NOW))["dr-a", "consult"].appointments == 40


# --- Applying ---------------------------------------------------------------------------


def rules(clinic) -> dict[tuple[str | None, str | None], int]:
    return {
        (r.provider.code if r.provider else None, r.appointment_type.code if r.appointment_type else None): (
            r.max_extra
        )
        for r in OverbookingRule.objects.filter(clinic=clinic).select_related("provider", "appointment_type")
    }


def test_applying_creates_and_updates_provider_and_type_rules(history, admin_user):
    clinic, dr_b = history["clinic"], history["providers"][1]
    OverbookingRule.objects.create(clinic=clinic, max_extra=1)
    old = OverbookingRule.objects.create(
        clinic=clinic, provider=dr_b, appointment_type=history["consult"], max_extra=2
    )

    changed = overbooking.apply_recommendations(clinic, recommend(clinic, now=NOW), actor=admin_user)

    assert changed == 3
    # The global rule stays; dr-a ecg has too little data, so it gets no rule of its own.
    assert rules(clinic) == {
        (None, None): 1,
        ("dr-a", "consult"): 0,
        ("dr-b", "consult"): 0,
        ("dr-b", "ecg"): 1,
    }
    entries = LogEntry.objects.filter(user=admin_user, content_type__model="overbookingrule")
    assert sorted(e.action_flag for e in entries) == [ADDITION, ADDITION, CHANGE]
    change = entries.get(action_flag=CHANGE)
    assert change.object_id == str(old.pk)
    assert "max_extra 2 → 0" in change.change_message
    # Applied again: nothing changes, nothing is logged.
    assert overbooking.apply_recommendations(clinic, recommend(clinic, now=NOW), actor=admin_user) == 0
    assert LogEntry.objects.count() == 3


def test_an_applied_rule_opens_exactly_its_seats_in_the_engine(history):
    """What "max_extra" means here is what the booking service does with it: one extra
    seat at a booked time for dr-b's ECGs (70 % no-shows), none for their consultations."""
    c = history
    clinic, dr_b, ecg_room = c["clinic"], c["providers"][1], c["rooms"][2]
    overbooking.apply_recommendations(clinic, recommend(clinic, now=NOW), actor=None)
    assert all(r.current_max_extra == r.max_extra for r in recommend(clinic, now=NOW) if r.recommended)
    nine = dt.datetime.combine(c["day"], dt.time(9), tzinfo=clinic.tz)

    def book(patient: int, kind, overbook: bool):
        return services.appointment_book(
            clinic=clinic,
            patient=c["patients"][patient],
            appointment_type=kind,
            provider=dr_b,
            room=ecg_room,
            start=nine,
            overbook=overbook,
        )

    assert book(1, c["ecg"], overbook=False).seat == 0
    assert book(2, c["ecg"], overbook=True).seat == 1
    for patient, kind in ((3, c["ecg"]), (4, c["consult"])):
        # ECGs: the rule's one extra seat is taken; consultations: the rule gives none.
        with pytest.raises(SlotUnavailable) as refused:
            book(patient, kind, overbook=True)
        assert refused.value.details["reason"] == "no_overbooking_seat"


def test_applying_a_recommendation_for_an_unknown_provider_changes_nothing(history):
    clinic = history["clinic"]
    found = recommend(clinic, now=NOW)
    stranger = Recommendation(
        provider="dr-nobody",
        appointment_type="consult",
        appointments=100,
        no_show_rate=0.5,
        session_seats=8,
        max_extra=1,
        risk=0.01,
        expected_minutes_won=10.0,
        current_max_extra=0,
    )

    with pytest.raises(NotFound):
        overbooking.apply_recommendations(clinic, [*found, stranger], actor=None)

    assert OverbookingRule.objects.filter(clinic=clinic).count() == 0


def test_applying_an_impossible_rule_is_refused(history):
    clinic = history["clinic"]
    rec = by_pair(recommend(clinic, now=NOW))["dr-b", "ecg"]

    for seats in (-1, overbooking.MAX_RULE_SEATS + 1):
        with pytest.raises(ValidationFailed):
            overbooking.apply_recommendations(clinic, [dataclasses.replace(rec, max_extra=seats)], actor=None)

    assert not OverbookingRule.objects.exists()


def test_recommending_never_writes_a_rule(history):
    recommend(history["clinic"], now=NOW)

    assert not OverbookingRule.objects.exists()


# --- The API ----------------------------------------------------------------------------


URL = "/api/v1/overbooking/recommendations"
EXACT_FIELDS = ("appointments", "no_show_rate", "session_seats", "max_extra", "current_max_extra", "note")


def test_the_api_lists_the_recommendations_sorted(history, call):
    response = call("GET", URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["days"], body["risk_limit"], body["min_appointments"]) == (90, 0.05, 30)
    listed = [(r["provider"], r["appointment_type"]) for r in body["recommendations"]]
    assert listed == [("dr-a", "consult"), ("dr-a", "ecg"), ("dr-b", "consult"), ("dr-b", "ecg")]
    expected = {(r.provider, r.appointment_type): r for r in recommend(history["clinic"], now=NOW)}
    for row in body["recommendations"]:
        rec = expected[row["provider"], row["appointment_type"]]
        assert row["recommended"] == rec.recommended
        for field in EXACT_FIELDS:
            assert row[field] == getattr(rec, field), field
        assert row["risk"] == pytest.approx(rec.risk)
        assert row["expected_minutes_won"] == pytest.approx(rec.expected_minutes_won)
    ecg = body["recommendations"][3]
    assert (ecg["no_show_rate"], ecg["max_extra"], ecg["recommended"]) == (0.7, 1, True)
    # Nothing was applied by asking.
    assert not OverbookingRule.objects.exists()


def test_the_api_learns_from_the_days_asked_for(history, call):
    body = call("GET", f"{URL}?days=5").json()

    assert [r["appointments"] for r in body["recommendations"]] == [0, 0, 0, 0]
    assert body["days"] == 5


@pytest.mark.parametrize("days", ["0", "3651", "x", "-5"])
def test_the_api_refuses_a_bad_number_of_days(history, call, days):
    response = call("GET", f"{URL}?days={days}")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert "days" in response.json()["error"]["details"]["fields"]


def test_the_api_is_scoped_to_the_callers_clinic(history, client, django_user_model):
    hillside = ClinicFactory(code="hillside", name="Hillside")
    user = make_user(django_user_model, "riverside-desk")
    Membership.objects.create(user=user, clinic=history["clinic"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user)[1]}"}

    assert client.get(f"{URL}?clinic=hillside", **auth).status_code == 404
    assert client.get(f"{URL}?clinic=riverside", **auth).status_code == 200
    assert hillside.code not in client.get(URL, **auth).content.decode()


def test_a_user_without_a_role_is_refused(history, client, django_user_model):
    token = ApiToken.issue(make_user(django_user_model, "nobody", role=None))[1]

    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.django_db(transaction=True)
def test_the_api_over_http_needs_a_token(live_server, small_clinic, django_user_model):
    token = ApiToken.issue(make_user(django_user_model, "http-desk"))[1]
    url = live_server.url + URL

    missing = requests.get(url, timeout=10)
    wrong = requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=10)
    right = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json()["error"]["code"] == "unauthorized"
    assert right.status_code == 200
    assert [r["provider"] for r in right.json()["recommendations"]] == ["dr-a", "dr-a", "dr-b", "dr-b"]
    assert not any(r["recommended"] for r in right.json()["recommendations"])  # no history yet


# --- The admin --------------------------------------------------------------------------

PAGE = "/admin/clinic/overbookingrule/recommendations/"


def test_the_rules_list_links_to_the_recommendations(admin_client, history):
    content = admin_client.get("/admin/clinic/overbookingrule/").content.decode()

    assert f'href="{PAGE}"' in content


def test_the_recommendations_page_shows_risk_and_minutes(admin_client, history):
    rows = by_pair(recommend(history["clinic"], now=NOW))

    response = admin_client.get(PAGE)

    assert response.status_code == 200
    content = response.content.decode()
    ecg = rows["dr-b", "ecg"]
    assert f"{ecg.risk:.1%}" in content and f"{ecg.expected_minutes_won:.1f}" in content
    assert "Only 10 appointment(s)" in content  # dr-a ecg: no recommendation, and why
    # Only the recommendations the data supports can be applied.
    assert 'value="dr-b|ecg"' in content and 'value="dr-a|ecg"' not in content
    assert not OverbookingRule.objects.exists()


def test_the_admin_applies_the_selected_recommendations(admin_client, admin_user, history):
    response = admin_client.post(PAGE, {"clinic": "riverside", "days": "90", "selected": ["dr-b|ecg"]})

    assert response.status_code == 302
    assert rules(history["clinic"]) == {("dr-b", "ecg"): 1}
    entry = LogEntry.objects.get(content_type__model="overbookingrule")
    assert (entry.user, entry.action_flag) == (admin_user, ADDITION)
    assert "Applied the overbooking recommendation" in entry.change_message
    page = admin_client.get(response["Location"]).content.decode()
    assert "1 rule(s) created or changed" in page


def test_the_admin_applies_all_recommendations_with_one_button(admin_client, history):
    response = admin_client.post(PAGE, {"clinic": "riverside", "days": "90", "apply_all": "1"})

    assert response.status_code == 302
    assert rules(history["clinic"]) == {("dr-a", "consult"): 0, ("dr-b", "consult"): 0, ("dr-b", "ecg"): 1}


def test_applying_nothing_selected_changes_nothing(admin_client, history):
    response = admin_client.post(PAGE, {"clinic": "riverside", "days": "90"}, follow=True)

    assert "Select at least one recommendation" in response.content.decode()
    assert not OverbookingRule.objects.exists()


def test_a_role_that_may_only_view_rules_sees_but_cannot_apply(client, history, django_user_model):
    client.force_login(make_user(django_user_model, "desk-admin-viewer", "front_desk"))

    page = client.get(PAGE)
    refused = client.post(PAGE, {"clinic": "riverside", "days": "90", "apply_all": "1"})

    assert page.status_code == 200 and "Apply all" not in page.content.decode()
    assert refused.status_code == 403
    assert not OverbookingRule.objects.exists()


@pytest.mark.parametrize("days", ["0", "abc", "99999"])
def test_a_bad_number_of_days_falls_back_with_a_warning(admin_client, history, days):
    response = admin_client.get(PAGE, {"days": days})

    assert response.status_code == 200
    assert "Days must be a whole number" in response.content.decode()
    assert response.context["days"] == overbooking.DEFAULT_DAYS


def test_the_page_shows_the_clinic_chosen(admin_client, history):
    hillside = ClinicFactory(code="hillside", name="Hillside")
    ProviderFactory(clinic=hillside, code="dr-hill")
    AppointmentTypeFactory(clinic=hillside, code="hill-visit")

    content = admin_client.get(PAGE, {"clinic": "hillside"}).content.decode()

    assert "dr-hill" in content and "dr-b" not in content
