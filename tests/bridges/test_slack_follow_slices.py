"""In a Celery worker a Slack follower holds no process: not while its run waits, runs, or Slack's pace waits."""

import time

from bridges.slack import blocks, dispatch, jobs
from bridges.slack.client import slack_client_for
from bridges.slack.config import slack_config
from bridges.slack.follow import FollowState
from bridges.slack.services import slack_message_post
from skills.executor import skill_run_execute
from skills.models import RunStatus
from skills.services import skill_run_start
from skills.tasks import skill_run_execute_task
from tests.skills.conftest import context_for
from tests.slack_loopback import TEAM_ID


def test_a_worker_follower_holds_no_process_and_its_next_step_posts_the_answer(linked, slack_env, monkeypatch):
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

    # Then it queued its next step and showed nothing yet
    [job] = queued
    state = job["body"]
    assert (job["kind"], job["countdown"], state["idle_steps"]) == ("follow", 0.2, 1)  # no busy loop
    assert (state["message_id"], state["run_id"], state["seq"], state["text"]) == (status.pk, str(run.id), 0, "")
    assert slack_env.of("chat.update") == []
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING

    # And while it stays queued, each look comes later than the last, up to Slack's edit pace
    for _ in range(4):
        jobs.slack_job_run(kind="follow", body=queued[-1]["body"])
    assert [job["countdown"] for job in queued] == [0.2, 0.4, 0.8, 1.0, 1.0]

    # When the run executes and the next step runs
    skill_run_execute(run_id=str(run.id))
    jobs.slack_job_run(kind="follow", body=queued[-1]["body"])

    # Then the answer is in the thread, and no further step was queued
    assert "#1042" in slack_env.of("chat.update")[-1].params["text"]
    assert len(queued) == 5
    status.refresh_from_db()
    assert status.last_seq == run.events.last().seq


def test_a_worker_follower_never_sleeps_for_the_edit_pace_it_comes_back_instead(linked, slack_env, monkeypatch):
    # Given a finished run whose status message was edited a moment ago
    monkeypatch.setenv("SLACK_UPDATE_INTERVAL", "0.5")
    run = skill_run_start(context=context_for("sarah", channel="slack"), message="show my tickets")
    client = slack_client_for(team_id=TEAM_ID)
    status = slack_message_post(
        client=client, key="status:EvPace", channel="C0PACE", thread_ts="1699.2", text=blocks.WORKING_TEXT
    )
    queued = []
    monkeypatch.setattr(dispatch, "slack_jobs_in_process", lambda: False)
    monkeypatch.setattr(dispatch, "slack_job_submit", lambda **job: queued.append(job))
    state = FollowState(
        message_id=status.pk, run_id=str(run.id), team_id=TEAM_ID, slack_user="USARAH", seq=0,
        deadline=time.time() + 60, last_edit=time.time(),
    )  # fmt: skip

    # When a step finds the answer before the pace allows another edit
    began = time.monotonic()
    jobs.slack_job_run(kind="follow", body=state.as_job())

    # Then it returned at once and asked to come back when the pace allows, with the answer still to show
    assert time.monotonic() - began < 0.4
    [job] = queued
    assert 0.2 <= job["countdown"] <= 0.5
    assert slack_env.of("chat.update") == []

    # When it comes back then
    time.sleep(job["countdown"])
    jobs.slack_job_run(kind="follow", body=job["body"])

    # Then the answer is shown once, whole
    [answer] = slack_env.of("chat.update")
    assert "#1042" in answer.params["text"] and not answer.params["text"].endswith(" …")
    assert len(queued) == 1
