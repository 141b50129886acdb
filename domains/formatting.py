"""How tools present values so answers read well in a chat: links, money, dates in the asker's zone."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tenants.context import AskerContext


def link(text: str, url: str) -> str:
    return f"[{text}]({url})"


def money(amount: Decimal | float, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def when(value: datetime, context: AskerContext) -> str:
    """A timestamp in the asker's timezone, with the zone named so nobody misreads it."""
    try:
        zone = ZoneInfo(context.user.timezone or "UTC")
    except ZoneInfoNotFoundError:
        zone = ZoneInfo("UTC")
    local = value.astimezone(zone)
    return local.strftime("%d %b %H:%M ") + (local.tzname() or "UTC")
