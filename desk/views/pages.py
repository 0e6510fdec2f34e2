"""The waitlist, patient and stats pages, under the names ``desk/urls.py`` routes to.

Each page lives in its own module; this one only gathers them.
"""

from desk.views.patients import patient
from desk.views.stats import stats
from desk.views.waitlist import waitlist

__all__ = ["patient", "stats", "waitlist"]
