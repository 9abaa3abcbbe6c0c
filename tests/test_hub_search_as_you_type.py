"""Search as you type over the Hub in "Which model did you mean to run?" (issue 16, item 1), against the
local fake Hub: a 300 ms pause starts one search, off the UI thread; a newer search makes an older one's
answer stale; offline, the field stays a plain text field and nothing is asked of the network."""

from __future__ import annotations

import pytest
from fakehub import FakeHub, running
from PySide6.QtCore import Qt
from windowkit import base_model, make_window, wait_diagnosis

from core.hub.search import search_model_ids


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from running(monkeypatch, tmp_path)


def world(hub: FakeHub) -> None:
    for repo, downloads in (
        ("acme/Llama-8B", 1000),
        ("acme/Llama-8B-Instruct", 5000),
        ("other/Llama-8B-Instruct-GGUF", 300),
        ("acme/Qwen-7B", 50),
    ):
        hub.add(repo, {}, downloads=downloads)


def listings(hub: FakeHub) -> list[str]:
    """The search text of every listing request the fake Hub answered."""
    return [r.query["search"][0] for r in hub.seen("hub", prefix="/api/models") if r.path == "/api/models"]


def test_search_model_ids(hub: FakeHub) -> None:
    world(hub)
    assert search_model_ids("llama-8b") == ["acme/Llama-8B-Instruct", "acme/Llama-8B", "other/Llama-8B-Instruct-GGUF"]
    assert search_model_ids("q") == [] and listings(hub) == ["llama-8b"]  # one character: no request
    hub.add("evil/<script>", {}, downloads=10**6)  # a server's odd id is not offered
    assert "evil/<script>" not in search_model_ids("evil")


@pytest.fixture
def question(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    path = base_model(tmp_path / "base.gguf")
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(path)))
    q = window.diagnosis_page.question
    assert q.isVisible()
    q.field.setFocus()
    return q


def test_typing_offers_matching_hub_ids_after_a_pause(qtbot, hub: FakeHub, question) -> None:
    world(hub)
    with qtbot.waitSignal(question.suggestions_ready, timeout=10_000) as got:
        qtbot.keyClicks(question.field, "Llama-8B-Inst")
    assert got.args[0] == ["acme/Llama-8B-Instruct", "other/Llama-8B-Instruct-GGUF"]
    assert question.suggestions.stringList() == got.args[0]
    # thirteen keystrokes, one pause: one request, for the whole text (a second only if the machine
    # stalled for 300 ms between two keystrokes)
    assert listings(hub)[-1] == "Llama-8B-Inst" and len(listings(hub)) <= 2
    # the suggestions are the field's own completions, matched anywhere in the id
    assert question.field.completer() is question.completer
    question.completer.setCompletionPrefix("8b-instruct-g")
    assert question.completer.currentCompletion() == "other/Llama-8B-Instruct-GGUF"


def test_a_stale_search_never_overwrites_a_newer_one(qtbot, hub: FakeHub, question) -> None:
    world(hub)
    hub.slow["/api/models"] = 0.4
    seen: list[list[str]] = []
    question.suggestions_ready.connect(seen.append)
    question.field.setText("Qwen")
    question.search_now()  # slow answer on its way
    question.field.setText("Llama-8B")
    with qtbot.waitSignal(question.suggestions_ready, timeout=10_000):
        question.search_now()
    qtbot.wait(600)  # both answers are in by now
    assert seen == [["acme/Llama-8B-Instruct", "acme/Llama-8B", "other/Llama-8B-Instruct-GGUF"]]
    assert "acme/Qwen-7B" not in question.suggestions.stringList()


def test_offline_the_field_is_plain_and_silent(qtbot, hub: FakeHub, question, monkeypatch) -> None:
    world(hub)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    qtbot.keyClicks(question.field, "Llama")
    qtbot.wait(500)
    assert listings(hub) == [] and question.suggestions.stringList() == []
    window = question.window()
    assert not window.banner.isVisible()
    # the question still works as a plain text field
    question.field.setText("acme/Llama-8B-Instruct")
    wait_diagnosis(qtbot, window, lambda: qtbot.keyClick(question.field, Qt.Key.Key_Return))
    assert window.state.setup.expected == "acme/Llama-8B-Instruct"


def test_an_unreachable_hub_is_silent_too(qtbot, question, monkeypatch) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    question.field.setText("Llama")
    question.search_now()
    qtbot.waitUntil(lambda: not question._searches, timeout=10_000)
    assert question.suggestions.stringList() == [] and not question.window().banner.isVisible()
    question.search_now()  # the Hub failed a moment ago: no new attempt for a while
    assert not question._searches
