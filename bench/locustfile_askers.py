"""Locust users for `bench/load_askers.py` (run by it; not meant to be run on its own).

One asker: `POST /api/runs` with a personal API token, then follow the run over `/ws/runs/<id>/`
(the session cookie) until `run.final`, then think for a moment and ask again. Both steps are
reported: the POST as an HTTP request, the follow as `WS run.final` (from the 202 to the answer).
Credentials come from the JSON file named by LOAD_ASKERS_CREDENTIALS.
"""

import itertools
import json
import os
import time

import websocket
from locust import HttpUser, between, task

REQUEST = {"message": "show my tickets", "skill": "my-tickets"}
FOLLOW_TIMEOUT_SECONDS = 30
_credentials = json.loads(open(os.environ["LOAD_ASKERS_CREDENTIALS"]).read())  # noqa: SIM115
_next = itertools.cycle(_credentials)


class Asker(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.person = next(_next)
        self.ws_base = self.host.replace("http://", "ws://")

    def _report(self, name: str, started: float, exception: Exception | None = None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=exception,
            context={},
        )

    @task
    def ask_and_follow(self) -> None:
        headers = {"Authorization": f"Bearer {self.person['token']}"}
        with self.client.post("/api/runs", json=REQUEST, headers=headers, name="POST /api/runs",
                              catch_response=True) as response:  # fmt: skip
            if response.status_code != 202:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            run_id = response.json()["id"]
        started = time.perf_counter()
        try:
            socket = websocket.create_connection(
                f"{self.ws_base}/ws/runs/{run_id}/",
                header=[f"Cookie: sessionid={self.person['session']}"],
                origin=self.host,
                timeout=FOLLOW_TIMEOUT_SECONDS,
            )
            try:
                while True:
                    event = json.loads(socket.recv())
                    if event["event"] == "run.final":
                        break
                    if event["event"] == "run.error":
                        raise RuntimeError(f"run {run_id} failed: {event['data']}")
            finally:
                socket.close()
        except Exception as error:  # noqa: BLE001 - every failure is counted as one
            self._report("WS /ws/runs/[id] → run.final", started, error)
            return
        self._report("WS /ws/runs/[id] → run.final", started)
