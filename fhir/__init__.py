"""The FHIR R4 door (issue 13).

This project's app is called ``fhir``, and so is the top-level package of ``fhir.resources``
(the FHIR models the tests validate against). The app comes first on ``sys.path`` and would
hide it, so the app's package also spans the other ``fhir`` directories on the path:
``fhir.resources`` then imports as if the app were not there.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
