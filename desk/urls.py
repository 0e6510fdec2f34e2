from django.contrib.auth import views as auth_views
from django.urls import path

from desk.views import appointments, board, booking, calendar_feed, clinic, patients, stats, waitlist

app_name = "desk"

urlpatterns = [
    path("", board.board, name="board"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="desk/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("book/", booking.find, name="find"),
    path("book/confirm/", booking.book, name="book"),
    path("book/waitlist/", booking.waitlist_from_search, name="waitlist_from_search"),
    path("patients/search/", booking.patient_search, name="patient_search"),
    path("patients/new/", booking.patient_new, name="patient_new"),
    path("appointments/<int:appointment_id>/", appointments.detail, name="appointment"),
    path("appointments/<int:appointment_id>/cancel/", appointments.cancel, name="cancel"),
    path("appointments/<int:appointment_id>/reschedule/", appointments.reschedule, name="reschedule"),
    path(
        "appointments/<int:appointment_id>/<str:action>/",
        appointments.change_status,
        name="change_status",
    ),
    path("waitlist/", waitlist.waitlist, name="waitlist"),
    path("patients/<str:code>/", patients.patient, name="patient"),
    path("stats/", stats.stats, name="stats"),
    path("my-calendar/", calendar_feed.calendar_feed, name="calendar_feed"),
    path("clinic/", clinic.switch_clinic, name="switch_clinic"),
]
