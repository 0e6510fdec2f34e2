"""Placeholder: the waitlist, patient and stats pages are being built."""

from django.http import HttpRequest, HttpResponse

from desk.views.common import staff_view


@staff_view()
def waitlist(request: HttpRequest) -> HttpResponse:
    return HttpResponse("waitlist")


@staff_view()
def patient(request: HttpRequest, code: str) -> HttpResponse:
    return HttpResponse("patient")


@staff_view()
def stats(request: HttpRequest) -> HttpResponse:
    return HttpResponse("stats")
