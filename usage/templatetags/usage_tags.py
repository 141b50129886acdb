from django import template

from usage.selectors import usage_may_view

register = template.Library()


@register.simple_tag
def usage_visible(user) -> bool:
    return usage_may_view(user)
