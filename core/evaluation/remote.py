"""A model behind an OpenAI-compatible server (llama-server, vLLM, TabbyAPI, Ollama's /v1, ...).

This is how EXL2 / GPTQ / AWQ models, and references too large for this machine, are compared.
Metrics come from `/v1/completions` with `echo` and `logprobs` (the server scores our text and
returns each token's log-prob and its top-k alternatives, as strings); samples come from
`/v1/chat/completions` streamed with temperature 0 and a fixed seed. A server only shows its top-k,
so the KL divergence from it is an estimate and every figure from a remote run is labelled
approximate (see metrics.approximate_stats). HTTP runs in a helper thread so the job keeps yielding
progress, and cancelling returns at once even while a request is in flight.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from queue import Empty, Queue
from typing import Any, TypeVar

from core import jsonfile, redact
from core.errors import RemoteEngineError
from core.evaluation.metrics import TopLogprobs
from core.evaluation.runners import TokenProgress
from core.progress import EtaClock, Job, Progress

T = TypeVar("T")
POLL_S = 0.1


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


class RemoteEngine:
    """An OpenAI-compatible server by URL (its base, with or without a trailing /v1)."""

    exact = False

    def __init__(self, url: str, model: str | None = None, api_key: str | None = None, timeout: float = 600) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RemoteEngineError(
                f"'{redact.value(url)}' is not a server address.", "Give it as http://HOST:PORT (or https://...)."
            )
        base = url.rstrip("/")
        self._endpoint = base[:-3] if base.endswith("/v1") else base
        self.base = redact.value(self._endpoint)  # what is shown: no user:password@ from the address
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.role = "model"

    @property
    def label(self) -> str:
        return f"{self.model or 'model'} @ {self.base}"

    def describe(self) -> str:
        return f"{self.label} (remote; metrics approximate)"

    # --- plumbing ---

    def _request(self, path: str, body: dict[str, Any] | None) -> urllib.request.Request:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None if body is None else json.dumps(body).encode()
        return urllib.request.Request(
            self._endpoint + path, data=data, headers=headers, method="GET" if body is None else "POST"
        )

    def _fail(self, path: str, exc: BaseException) -> RemoteEngineError:
        if isinstance(exc, urllib.error.HTTPError):
            try:
                detail = exc.read().decode("utf-8", errors="replace")[:300]
            except OSError:
                detail = ""
            if exc.code == 404:
                return RemoteEngineError(
                    f"The server at {self.base} has no {path} (HTTP 404).",
                    "Use a server with an OpenAI-compatible API (llama-server, vLLM, TabbyAPI, Ollama's /v1).",
                )
            return RemoteEngineError(f"The server at {self.base} refused {path}: HTTP {exc.code} {detail}".strip())
        if isinstance(exc, urllib.error.URLError | OSError):
            reason = getattr(exc, "reason", exc)
            return RemoteEngineError(f"Could not reach the server at {self.base}: {reason}.")
        return RemoteEngineError(f"The server at {self.base} answered {path} with something unexpected: {exc}")

    def _in_thread(self, fn: Callable[[], T], phase: Progress) -> Job[T]:
        """Run a blocking call in a helper thread, yielding `phase` every 0.1 s until it returns."""
        box: Queue[tuple[bool, Any]] = Queue()

        def target() -> None:
            try:
                box.put((True, fn()))
            except BaseException as exc:  # handed to the job's thread, re-raised there
                box.put((False, exc))

        threading.Thread(target=target, daemon=True).start()
        while True:
            try:
                ok, value = box.get(timeout=POLL_S)
            except Empty:
                yield phase
                continue
            if ok:
                return value  # type: ignore[no-any-return]
            raise value

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(self._request(path, body), timeout=self.timeout) as resp:
                raw = resp.read(MAX_ANSWER_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise self._fail(path, exc) from exc
        return _answer(raw, f"{self.base}{path}")

    # --- API ---

    def connect(self) -> Job[str]:
        """Ask the server which model it serves; remember it (requests name it)."""

        def call() -> str:
            try:
                with urllib.request.urlopen(self._request("/v1/models", None), timeout=min(self.timeout, 15)) as resp:
                    raw = resp.read(MAX_ANSWER_BYTES + 1)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise self._fail("/v1/models", exc) from exc
            data = _answer(raw, f"{self.base}/v1/models")
            listed = data.get("data")
            models = [m.get("id") for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
            if not models:
                raise RemoteEngineError(f"The server at {self.base} lists no model at /v1/models.")
            if self.model and self.model not in models:
                raise RemoteEngineError(
                    f"The server at {self.base} does not serve '{self.model}'; it serves: {', '.join(map(str, models))}."
                )
            return str(self.model or models[0])

        self.model = yield from self._in_thread(call, Progress(f"Connecting to {self.base}"))
        return self.model

    def score_window(self, text: str, top_k: int, prefix: str = "") -> list[TopLogprobs]:
        """Echo `prefix + text` with log-probs; the positions of the second half, as llama-perplexity scores.

        `prefix` is the BOS token's text when the tokenizer does not add BOS by itself: every scored
        window then starts with BOS on both sides, and servers that drop a leading BOS from the echo
        (llama-cpp-python's) report each token's log-prob at the right position.
        """
        sent = prefix + text
        body = {"model": self.model, "prompt": sent, "max_tokens": 1, "temperature": 0.0, "echo": True,
                "logprobs": top_k}  # fmt: skip
        data = self._post("/v1/completions", body)
        try:
            lp = data["choices"][0]["logprobs"]
            tokens: list[str] = lp["tokens"]
            token_lps: list[float | None] = lp["token_logprobs"]
            tops: list[dict[str, float] | None] = lp.get("top_logprobs") or [None] * len(tokens)
            offsets: list[int] = lp.get("text_offset") or list(range(len(tokens)))
        except (KeyError, IndexError, TypeError) as exc:
            raise RemoteEngineError(
                f"The server at {self.base} did not return log-probabilities for the prompt (echo + logprobs).",
                "Metrics need /v1/completions with echo and logprobs (llama-server, vLLM, llama-cpp-python's "
                "server with logits_all). Samples can still be compared.",
            ) from exc
        # the prompt's own tokens: the generated one comes last
        generated = (data.get("usage") or {}).get("completion_tokens")
        n = len(tokens) - generated if isinstance(generated, int) else sum(1 for off in offsets if off < len(sent))
        out: list[TopLogprobs] = []
        for j in range(max(1, n // 2), n):
            value = token_lps[j]
            if value is None:
                continue
            top = {str(k): float(v) for k, v in (tops[j] or {}).items()}
            out.append(TopLogprobs(j, tokens[j], float(value), top))
        return out

    def count_tokens(self, text: str) -> Job[int]:
        """How many tokens the server makes of `text` (to size windows that fit its context)."""

        def call() -> int:
            data = self._post("/v1/completions", {"model": self.model, "prompt": text, "max_tokens": 1,
                                                   "temperature": 0.0})  # fmt: skip
            usage = data.get("usage") or {}
            if isinstance(usage.get("prompt_tokens"), int):
                return int(usage["prompt_tokens"])
            data = self._post("/v1/completions", {"model": self.model, "prompt": text, "max_tokens": 1,
                                                   "echo": True, "logprobs": 1, "temperature": 0.0})  # fmt: skip
            return len(data["choices"][0]["logprobs"]["tokens"])

        return (yield from self._in_thread(call, Progress(f"Asking {self.base} how it tokenizes")))

    def score_windows(
        self, windows: list[str], top_k: int, phase: str, prefix: str = ""
    ) -> Job[list[list[TopLogprobs]]]:
        out: list[list[TopLogprobs]] = []
        clock = EtaClock(len(windows))
        for i, text in enumerate(windows):
            event = Progress(phase, i, len(windows), "windows", clock.eta(i))

            def call(t: str = text) -> list[TopLogprobs]:
                return self.score_window(t, top_k, prefix)

            out.append((yield from self._in_thread(call, event)))
        return out

    def generate(self, prompt: str, max_tokens: int, seed: int, phase: str, sample_id: str,
                 system: str | None = None) -> Job[list[str]]:  # fmt: skip
        """Greedy chat completion, streamed; returns the text deltas (about one token each)."""
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0,
                "top_p": 1.0, "seed": seed, "stream": True}  # fmt: skip
        queue: Queue[tuple[str, Any]] = Queue()
        stop = threading.Event()

        def reader() -> None:
            try:
                with urllib.request.urlopen(self._request("/v1/chat/completions", body), timeout=self.timeout) as resp:
                    for delta in _sse_deltas(resp):
                        if stop.is_set():
                            return
                        queue.put(("delta", delta))
                queue.put(("end", None))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                queue.put(("error", self._fail("/v1/chat/completions", exc)))

        threading.Thread(target=reader, daemon=True).start()
        pieces: list[str] = []
        current = Progress(phase, 0, max_tokens, "tokens")
        clock = EtaClock(max_tokens)
        try:
            while True:
                try:
                    kind, value = queue.get(timeout=POLL_S)
                except Empty:
                    yield current
                    continue
                if kind == "end":
                    return pieces
                if kind == "error":
                    raise value
                pieces.append(value)
                n = len(pieces)
                current = TokenProgress(phase, n, max_tokens, "tokens", clock.eta(n), side=self.role,
                                        sample_id=sample_id, token=value)  # fmt: skip
                yield current
        finally:
            stop.set()


MAX_ANSWER_BYTES = 64 * 1024 * 1024


def _answer(raw: bytes, where: str) -> dict[str, Any]:
    """A server's JSON answer through the one bounded loader: an object, or a plain RemoteEngineError."""
    data: dict[str, Any] = jsonfile.loads(
        raw, f"The answer of {where}", RemoteEngineError, max_bytes=MAX_ANSWER_BYTES, duplicates=True
    )
    return data


def _sse_deltas(resp: Any) -> Iterator[str]:
    """Text deltas from an OpenAI chat-completions event stream (`data: {...}` lines, `data: [DONE]`)."""
    for raw in resp:
        line = raw.decode("utf-8", errors="replace").strip()
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        event = jsonfile.loads(payload, "An event of the server's stream", RemoteEngineError, duplicates=True)
        choices = event.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            content = delta.get("content") if isinstance(delta, dict) else None
            if content:
                yield str(content)
