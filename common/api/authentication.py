"""Token authentication in one hand-written query.

DRF's TokenAuthentication builds an ORM query (the token joined to its user) on every request;
on the API's hottest paths that build cost more than running it. This reads the same row with
plain SQL (common/rows.py) and answers exactly as DRF does: 401 for an unknown token or an
inactive user.
"""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from common import rows


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        user_model = get_user_model()
        sql = (
            f"SELECT {rows.model_columns(user_model, 'u')} FROM {user_model._meta.db_table} u "
            f"JOIN {Token._meta.db_table} t ON t.user_id = u.{user_model._meta.pk.column} WHERE t.key = %s"
        )
        user = rows.fetch_one(user_model, sql, [key])
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, Token(key=key, user=user)
