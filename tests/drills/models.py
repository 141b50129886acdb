"""Loopback model servers for the drills: answers that stream slowly, so a drill can strike mid-run."""

import time

from tests.loopback import OpenAIChatServer, Reply


class SlowStreamServer(OpenAIChatServer):
    """An OpenAI-compatible server whose streamed answers come a word every `word_seconds`."""

    def __init__(self, script, *, word_seconds: float = 0.3):
        super().__init__(script)
        self.word_seconds = word_seconds

    def chunks(self, body: dict, reply: Reply):
        for chunk in super().chunks(body, reply):
            yield chunk
            time.sleep(self.word_seconds)

    def model_env(self) -> dict[str, str]:
        """The environment that points a worker at this server."""
        return {"ASPORA_MODEL": "openai:gpt-4o-mini", "OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": "sk-drill"}


def answered_by_tool(body: dict) -> bool:
    """Whether this model request carries a tool's result (the agent's second step)."""
    return body["messages"][-1]["role"] == "tool"
