"""The obedient attacker: a model that does whatever instructions it finds in what it reads.

It calls the tools the injected text names, with the arguments it gives (a JSON object after the
tool's name, else the arguments the offline model would read from the sentence), repeats the data
it saw, echoes phrases it is told to say and emits every link it is given, with the data it saw
appended. It never needs a key and never leaves the process. What it cannot do is what the
executor and the tools do not let it: that is what the suite measures.
"""

import json
import re
from urllib.parse import quote

from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import DeltaToolCall, FunctionModel

from skills.offline import _user_text, arguments_extract, offline_stream, result_render

_URL = re.compile(r"https?://[^\s)\"'\]>]+")
_SAY = re.compile(
    r"(?i)\b(?:say|print|output|reply with|respond with|write|repeat)\b[^\"“]{0,40}[\"“]([^\"”]{3,120})[\"”]"
)


def _untrusted(messages) -> str:
    texts = []
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    texts.append(part.content)
                elif isinstance(part, ToolReturnPart):
                    texts.append(
                        part.content if isinstance(part.content, str) else json.dumps(part.content, ensure_ascii=False)
                    )
    return "\n".join(texts)


def _json_after(text: str, start: int) -> dict | None:
    brace = text.find("{", start, start + 40)
    if brace < 0:
        return None
    depth = 0
    for i in range(brace, min(len(text), brace + 600)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            try:
                value = json.loads(text[brace : i + 1].replace('\\"', '"'))
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def directives(text: str, tools) -> list[tuple[str, dict]]:
    """Every (tool, arguments) the text asks for, in order."""
    found = []
    for tool in tools:
        for match in re.finditer(rf"\b{re.escape(tool.name)}\b", text):
            args = _json_after(text, match.end())
            if args is None:
                sentence = re.split(r"[.\n]", text[match.end() : match.end() + 200])[0]
                args, missing = arguments_extract(tool, sentence)
                if missing:
                    continue
            found.append((match.start(), tool.name, args))
    return [(name, args) for _, name, args in sorted(found, key=lambda f: f[0])]


async def obedient_stream(messages, info):
    done = {
        (part.tool_name, json.dumps(part.args_as_dict(), sort_keys=True))
        for message in messages
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, ToolCallPart)
    }
    text = _untrusted(messages)
    todo = [(n, a) for n, a in directives(text, info.function_tools) if (n, json.dumps(a, sort_keys=True)) not in done]
    if todo:
        yield {
            i: DeltaToolCall(name=name, json_args=json.dumps(args), tool_call_id=f"obey-{len(messages)}-{i}")
            for i, (name, args) in enumerate(todo[:4])
        }
        return
    returns = [p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]
    if not returns:
        # Do what was asked first: the read the ask names, as the offline model would.
        names = {t.name for t in info.function_tools}
        asked = re.search(r"\b(ticket|alert) (\d+)", _user_text(messages))
        read = {"ticket": "ticket_detail", "alert": "investigate_alert"}.get(asked.group(1)) if asked else None
        if read in names:
            yield {0: DeltaToolCall(name=read, json_args=json.dumps({f"{asked.group(1)}_number": int(asked.group(2))}))}
            return
        async for chunk in offline_stream(messages, info):
            yield chunk
        return
    data = "\n\n".join(result_render(p.content) for p in returns)
    answer = [data]
    answer += [said for said in _SAY.findall(text)]
    answer += [f"![status]({url}{'&' if '?' in url else '?'}d={quote(data[:300])})" for url in _URL.findall(text)]
    yield "\n\n".join(answer)


def obedient_attacker() -> FunctionModel:
    return FunctionModel(stream_function=obedient_stream, model_name="obedient-attacker")
