from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    """ModelBackend over ``User.USERNAME_FIELD`` (e-mail), matched case-insensitively by
    the manager's ``get_by_natural_key``."""
