"""What the bridge's Slack messages look like: Block Kit payloads, nothing else."""

import json

CONFIRM_ACTION = "aspora_run_confirm"
REJECT_ACTION = "aspora_run_reject"
WORKING_TEXT = ":hourglass_flowing_sand: Working on it…"
MARKDOWN_LIMIT = 11_000
TEXT_LIMIT = 3_000


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def answer_blocks(*, text: str, footer: str = "") -> list[dict]:
    """Answers are Markdown; Slack's markdown block renders it as written."""
    blocks: list[dict] = [{"type": "markdown", "text": _clip(text or " ", MARKDOWN_LIMIT)}]
    if footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(footer, 300)}]})
    return blocks


def with_warnings(text: str, warnings: list[str]) -> str:
    """An answer with a line per warning under it (a budget past its warning line)."""
    return "\n\n".join([text, *(f":warning: {warning}" for warning in warnings)])


def fallback_text(text: str) -> str:
    return _clip(text or " ", TEXT_LIMIT)


def calls_description(calls: list[dict]) -> str:
    return "\n".join(f"• `{call['name']}` {json.dumps(call.get('args', {}), ensure_ascii=False)}" for call in calls)


def confirmation_blocks(*, run_id: str, calls: list[dict], asker: str) -> list[dict]:
    return [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _clip(f"<@{asker}>, this needs your confirmation:\n{calls_description(calls)}", TEXT_LIMIT),
            },
        },
        {
            "type": "actions",
            "block_id": "aspora_confirmation",
            "elements": [
                {
                    "type": "button",
                    "action_id": CONFIRM_ACTION,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Confirm"},
                    "value": run_id,
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "value": run_id,
                },
            ],
        },
    ]


def decided_blocks(*, calls: list[dict], approved: bool, by: str) -> list[dict]:
    verdict = f":white_check_mark: Confirmed by <@{by}>" if approved else f":no_entry_sign: Rejected by <@{by}>"
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(calls_description(calls) or " ", TEXT_LIMIT)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": verdict}]},
    ]


def help_text(*, skills: list[tuple[str, str, list[str]]]) -> str:
    if not skills:
        return "You cannot run any skill yet; ask an ops manager to give your team access."
    lines = ["*What you can ask Aspora* — mention me, DM me, or use `/aspora <skill> …` or `/aspora <question>`:"]
    for name, description, examples in skills:
        lines.append(f"• *{name}* — {description}")
        lines.extend(f"    _e.g._ “{example}”" for example in examples[:2])
    return _clip("\n".join(lines), TEXT_LIMIT)
