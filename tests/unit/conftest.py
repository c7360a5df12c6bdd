import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Django's default hasher takes a good part of a second per password by design; the unit
    tests create a user or two each. (The live web server keeps the real one, so tests/e2e/ does.)"""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
