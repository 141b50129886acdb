"""Markdown → HTML that is safe to show, whatever a skill file or a model wrote."""

import markdown
import nh3

ALLOWED_TAGS = nh3.ALLOWED_TAGS | {"table", "thead", "tbody", "tr", "th", "td"}


def markdown_to_safe_html(text: str) -> str:
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"])
    return nh3.clean(html, tags=ALLOWED_TAGS, link_rel="noopener noreferrer")
