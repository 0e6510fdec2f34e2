from clinic.checks import secret_key_is_set
from clinic.settings import DEV_SECRET_KEY


def test_deploy_check_refuses_the_development_secret_key(settings):
    settings.SECRET_KEY = DEV_SECRET_KEY
    assert [m.id for m in secret_key_is_set(None)] == ["clinic.E001"]
    settings.SECRET_KEY = "a-real-long-random-secret-from-the-environment-0123456789"
    assert secret_key_is_set(None) == []
