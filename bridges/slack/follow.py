"""Follow a run's stored events into a Slack thread, as `manage.py ask` follows them into a terminal.

Two writers: `StreamWriter` (chat.startStream/appendStream/stopStream, SLACK_STREAMING on) and
`UpdateWriter` (chat.update of the status message). Both edit at most once per
SLACK_UPDATE_INTERVAL seconds per channel, which is Slack's per-channel pace for edits; the
pace is kept per process.

In a Celery worker a follower must not hold its process while the run it waits for sits in the
queue behind it (with every process following, nothing would run), nor while the run executes in
another process. There it follows in steps (`slice_seconds=0`): one pass over the events stored
so far, then it returns its state (`FollowState`: the text so far and when it last edited, so the
pace holds across processes) and the caller queues the next step a moment later.
"""

import logging
import threading
import time
from dataclasses import asdict, dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bridges.models import SlackMessage
from bridges.slack import blocks
from bridges.slack.config import SlackConfig
from bridges.slack.services import slack_message_post, slack_message_progress, slack_message_update
from skills.models import RunStatus, SkillRun
from skills.selectors import skill_run_follow
from usage.services import budget_warnings_take

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.05
TERMINAL_EVENTS = ("run.confirmation_needed", "run.final", "run.error")

_pace_lock = threading.Lock()
_last_edit: dict[str, float] = {}


def _pace_wait(channel: str, interval: float) -> float:
    with _pace_lock:
        return max(0.0, _last_edit.get(channel, 0.0) + interval - time.monotonic())


def _pace_mark(channel: str) -> None:
    with _pace_lock:
        _last_edit[channel] = time.monotonic()


@dataclass
class FollowState:
    """Where a sliced follower stopped: JSON-able, it travels in the next slice's job."""

    message_id: int
    run_id: str
    team_id: str
    slack_user: str
    seq: int
    deadline: float  # Unix time after which the follower gives up (SLACK_RUN_TIMEOUT from the start)
    text: str = ""
    dirty: bool = False
    last_edit: float = 0.0  # Unix time of this follower's last edit: the pace across processes
    idle_steps: int = 0  # steps in a row that found nothing new: the next one waits longer
    not_before: float = 0.0  # Unix time before which the next step cannot edit (Slack's pace)
    stream_ts: str | None = None
    stream_pending: str = ""
    stream_failed: bool = False

    def as_job(self) -> dict:
        return asdict(self)


class UpdateWriter:
    """Edits the status message with the text so far; the last edit replaces it with the answer."""

    def __init__(self, *, client: WebClient, message: SlackMessage, interval: float):
        self.client, self.message, self.interval = client, message, interval
        self.text, self.dirty = "", False
        self.last_edit = 0.0

    def restore(self, state: FollowState) -> None:
        self.text, self.dirty, self.last_edit = state.text, state.dirty, state.last_edit

    def save(self, state: FollowState) -> None:
        state.text, state.dirty, state.last_edit = self.text, self.dirty, self.last_edit

    def wait(self) -> float:
        """Seconds until this message may be edited again (this process's pace, and this follower's)."""
        own = self.last_edit + self.interval - time.time()
        return max(0.0, own, _pace_wait(self.message.channel, self.interval))

    def mark(self) -> None:
        _pace_mark(self.message.channel)
        self.last_edit = time.time()

    def append(self, text: str, *, flush: bool = True) -> None:
        self.text += text
        self.dirty = True
        if flush:
            self.tick()

    def tick(self) -> None:
        if self.dirty and self.wait() == 0:
            self._edit(text=self.text + " …", blocks_=blocks.answer_blocks(text=self.text + " …"))

    def finish(self, *, text: str, footer: str = "") -> None:
        time.sleep(self.wait())
        self._edit(text=text, blocks_=blocks.answer_blocks(text=text, footer=footer))

    def _edit(self, *, text: str, blocks_: list[dict]) -> None:
        self.mark()
        slack_message_update(client=self.client, message=self.message, text=blocks.fallback_text(text), blocks=blocks_)
        self.dirty = False


class StreamWriter(UpdateWriter):
    """Streams the answer as a new threaded message; the status message only says where it went."""

    def __init__(self, *, client: WebClient, message: SlackMessage, interval: float, team_id: str, user_id: str):
        super().__init__(client=client, message=message, interval=interval)
        self.team_id, self.user_id = team_id, user_id
        self.stream_ts: str | None = None
        self.pending = ""
        self.failed = False

    def restore(self, state: FollowState) -> None:
        super().restore(state)
        self.stream_ts, self.pending, self.failed = state.stream_ts, state.stream_pending, state.stream_failed

    def save(self, state: FollowState) -> None:
        super().save(state)
        state.stream_ts, state.stream_pending, state.stream_failed = self.stream_ts, self.pending, self.failed

    def append(self, text: str, *, flush: bool = True) -> None:
        if self.failed:
            return super().append(text, flush=flush)
        self.text += text
        self.pending += text
        if flush:
            self.tick()

    def tick(self) -> None:
        if self.failed:
            return super().tick()
        if self.pending and self.wait() == 0:
            self._flush()

    def _flush(self) -> None:
        self.mark()
        chunk, self.pending = self.pending, ""
        try:
            if self.stream_ts is None:
                response = self.client.chat_startStream(
                    channel=self.message.channel,
                    thread_ts=self.message.thread_ts or self.message.ts,
                    recipient_team_id=self.team_id or None,
                    recipient_user_id=self.user_id or None,
                    markdown_text=chunk,
                )
                self.stream_ts = response["ts"]
            else:
                self.client.chat_appendStream(channel=self.message.channel, ts=self.stream_ts, markdown_text=chunk)
        except SlackApiError as exc:
            # Streaming is new and not everywhere: edit the status message instead.
            logger.warning("Slack streaming failed (%s); falling back to chat.update", exc.response.get("error"))
            self.failed, self.dirty = True, True

    def finish(self, *, text: str, footer: str = "") -> None:
        if not self.failed:
            if self.stream_ts is None and not self.pending:
                self.pending = text
            elif text.startswith(self.text) and len(text) > len(self.text):
                self.pending += text[len(self.text) :]
            if self.pending:
                time.sleep(self.wait())
                self._flush()
        if self.failed:
            return super().finish(text=text, footer=footer)
        try:
            self.client.chat_stopStream(
                channel=self.message.channel, ts=self.stream_ts, blocks=blocks.answer_blocks(text=text, footer=footer)
            )
        except SlackApiError as exc:
            logger.warning("chat.stopStream failed: %s", exc.response.get("error"))
        slack_message_update(
            client=self.client,
            message=self.message,
            text=":white_check_mark: Answered in this thread.",
            blocks=[{"type": "context", "elements": [{"type": "mrkdwn", "text": footer or "Answered."}]}],
        )


def _footer(run: SkillRun) -> str:
    parts = [run.skill.name if run.skill else "aspora"]
    if run.is_offline:
        parts.append("offline model")
    if run.latency_ms is not None:
        parts.append(f"{run.latency_ms / 1000:.1f} s")
    return " · ".join(parts)


def _place(*, team_id: str, message: SlackMessage) -> str:
    """Where a warning counts as seen: a direct message's conversation, or a channel's thread."""
    if message.channel.startswith("D"):
        return f"slack:{team_id}:{message.channel}"
    return f"slack:{team_id}:{message.channel}:{message.thread_ts or message.ts}"


def slack_run_follow(
    *,
    client: WebClient,
    run: SkillRun,
    message: SlackMessage,
    config: SlackConfig,
    team_id: str,
    slack_user: str,
    state: FollowState | None = None,
    slice_seconds: float | None = None,
) -> str | FollowState:
    """Show the run's events after `message.last_seq` (or `state.seq`) in `message`'s thread.

    Returns why it stopped: the final answer, an error, or a confirmation (posted with
    Confirm/Reject buttons); or, with `slice_seconds`, the state to resume from once that time (0:
    one pass) is over, or at once while the run is still queued.
    """
    if config.streaming:
        writer: UpdateWriter = StreamWriter(
            client=client, message=message, interval=config.update_interval, team_id=team_id, user_id=slack_user
        )
    else:
        writer = UpdateWriter(client=client, message=message, interval=config.update_interval)
    if state is None:
        state = FollowState(
            message_id=message.pk,
            run_id=str(run.id),
            team_id=team_id,
            slack_user=slack_user,
            seq=message.last_seq,
            deadline=time.time() + config.run_timeout,
        )
    writer.restore(state)
    seq = state.seq
    stepping = slice_seconds is not None
    if stepping and time.time() < state.deadline:
        run.refresh_from_db(fields=["status"])
        if run.status == RunStatus.PENDING:
            state.idle_steps += 1
            return state  # its task is still queued: waiting here would only keep it waiting
    remaining = state.deadline - time.time()
    timeout = remaining if slice_seconds is None else min(remaining, slice_seconds)
    try:
        for event in skill_run_follow(run=run, after=seq, timeout=max(0.0, timeout), poll_seconds=POLL_SECONDS):
            if event is None:
                writer.tick()
                continue
            previous, seq = seq, event.seq
            if event.type == "run.delta":
                # A step edits once, at its end: the deltas of one pass become one edit.
                writer.append(event.data.get("text", ""), flush=not stepping)
                continue
            if stepping and event.type in TERMINAL_EVENTS and writer.wait() > 0:
                # The last edit must wait for Slack's pace: come back then instead of sleeping in a process.
                state.idle_steps, state.seq, state.not_before = 0, previous, time.time() + writer.wait()
                writer.save(state)
                slack_message_progress(message=message, seq=previous, run=run)
                return state
            if event.type == "run.confirmation_needed":
                run.refresh_from_db()
                writer.finish(text=writer.text or "I need your confirmation before I go on.", footer=_footer(run))
                slack_message_progress(message=message, seq=seq, run=run)
                calls = event.data.get("calls", [])
                slack_message_post(
                    client=client,
                    key=f"confirm:{run.id}:{seq}",
                    channel=message.channel,
                    thread_ts=message.thread_ts or message.ts,
                    text="This needs your confirmation.",
                    blocks=blocks.confirmation_blocks(run_id=str(run.id), calls=calls, asker=slack_user),
                    run=run,
                    team_id=team_id,
                )
                return event.type
            elif event.type in ("run.final", "run.error"):
                run.refresh_from_db()
                if event.type == "run.final":
                    text = event.data.get("answer") or run.answer or writer.text or "(no answer)"
                    warnings = budget_warnings_take(run=run, place=_place(team_id=team_id, message=message))
                    text = blocks.with_warnings(text, warnings)
                else:
                    text = f":warning: {event.data.get('message') or run.error or 'The run failed.'}"
                writer.finish(text=text, footer=_footer(run))
                slack_message_progress(message=message, seq=seq, run=run)
                return event.type
    except TimeoutError:
        if time.time() < state.deadline:
            writer.tick()  # what arrived in this step goes out now if the pace allows, else next step
            state.idle_steps = 0 if seq > state.seq else state.idle_steps + 1
            state.seq, state.not_before = seq, 0.0
            writer.save(state)
            slack_message_progress(message=message, seq=seq, run=run)
            return state
        writer.finish(text="This is taking long; the answer will be in the portal console when it is ready.")
        slack_message_progress(message=message, seq=seq, run=run)
        return "timeout"
    # The run finished without a final event (e.g. stopped after a lost worker).
    text = run.answer or f":warning: {run.error or 'The run ended without an answer.'}"
    writer.finish(text=text, footer=_footer(run))
    slack_message_progress(message=message, seq=seq, run=run)
    return run.status
