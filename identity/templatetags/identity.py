from django import template
from django.conf import settings

from identity.oidc import sso_enabled

register = template.Library()


@register.inclusion_tag("identity/sso_button.html", takes_context=True)
def sso_button(context):
    """The "Sign in with <provider>" button, only when single sign-on is configured."""
    return {"enabled": sso_enabled(), "provider": settings.OIDC_PROVIDER_NAME, "next": context.get("next", "")}
