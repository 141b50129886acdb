from django import template

from audit.selectors import audit_viewer_may

register = template.Library()


@register.simple_tag
def audit_visible(user) -> bool:
    """Whether the nav shows the Audit link (templates/base.html)."""
    return audit_viewer_may(user=user)
