from clinic.checks import secret_key_is_set
from clinic.settings import DEV_SECRET_KEY


def test_deploy_check_refuses_the_development_secret_key(settings):
    settings.SECRET_KEY = DEV_SECRET_KEY
    assert [m.id for m in secret_key_is_set(None)] == ["clinic.E001"]
    settings.SECRET_KEY = "a-real-long-random-secret-from-the-environment-0123456789"
    assert secret_key_is_set(None) == []


def test_health_answers_503_when_the_database_cannot_be_reached(client, django_db_blocker):
    from django.db import connections

    with django_db_blocker.unblock():
        connection = connections["default"]
        connection.close()
        saved = dict(connection.settings_dict)
        # A real failure, not a mock: the server's socket directory does not exist.
        connection.settings_dict.update(HOST="/nonexistent-socket-dir", PORT="5999")
        try:
            response = client.get("/health")
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)
        assert client.get("/health").status_code == 200
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}
