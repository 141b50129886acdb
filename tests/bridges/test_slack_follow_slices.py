"""In a Celery worker a Slack follower gives its process back while the run it follows waits in the queue."""

from bridges.slack import blocks, dispatch, jobs
from bridges.slack.client import slack_client_for
from bridges.slack.config import slack_config
from bridges.slack.services import slack_message_post
from skills.executor import skill_run_execute
from skills.models import RunStatus
from skills.services import skill_run_start
from skills.tasks import skill_run_execute_task
from tests.skills.conftest import context_for
from tests.slack_loopback import TEAM_ID


def test_a_follower_hands_back_its_slice_and_the_next_slice_posts_the_answer(linked, slack_env, monkeypatch):
    # Given a run queued behind the follower (the worker that would execute it is busy following)
    monkeypatch.setattr(skill_run_execute_task, "delay", lambda *args, **kwargs: None)
    run = skill_run_start(context=context_for("sarah", channel="slack"), message="show my tickets")
    client = slack_client_for(team_id=TEAM_ID)
    status = slack_message_post(
        client=client, key="status:EvSlice", channel="C0OPS", thread_ts="1699.1", text=blocks.WORKING_TEXT
    )
    queued = []
    monkeypatch.setattr(dispatch, "slack_jobs_in_process", lambda: False)
    monkeypatch.setattr(dispatch, "slack_job_submit", lambda **job: queued.append(job))

    # When the follower looks while the run has not even started
    jobs._follow(client=client, run=run, message=status, config=slack_config(), team_id=TEAM_ID, slack_user="USARAH")

    # Then it queued its next slice and showed nothing yet
    [job] = queued
    state = job["body"]
    assert (job["kind"], job["countdown"]) == ("follow", jobs.FOLLOW_RECHECK_SECONDS)  # no busy loop
    assert (state["message_id"], state["run_id"], state["seq"], state["text"]) == (status.pk, str(run.id), 0, "")
    assert slack_env.of("chat.update") == []
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING

    # When the run executes and the next slice runs
    skill_run_execute(run_id=str(run.id))
    jobs.slack_job_run(kind="follow", body=state)

    # Then the answer is in the thread, and no further slice was queued
    assert "#1042" in slack_env.of("chat.update")[-1].params["text"]
    assert len(queued) == 1
    status.refresh_from_db()
    assert status.last_seq == run.events.last().seq
