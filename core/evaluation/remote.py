"""A model behind an OpenAI-compatible server (llama-server, vLLM, TabbyAPI, Ollama's /v1, ...).

This is how EXL2 / GPTQ / AWQ models, and references too large for this machine, are compared.
Metrics come from `/v1/completions` with `echo` and `logprobs` (the server scores our text and
returns each token's log-prob and its top-k alternatives, as strings); samples come from
`/v1/chat/completions` streamed with temperature 0 and a fixed seed. A server only shows its top-k,
so the KL divergence from it is an estimate and every figure from a remote run is labelled
approximate (see metrics.approximate_stats). HTTP runs in a helper thread so the job keeps yielding
progress, and cancelling returns at once even while a request is in flight.

Every request goes through the one HTTP door (core.net): redirects only within the server's own
origin (the API key in the Authorization header never reaches another host), answers capped at
`MAX_ANSWER_BYTES` as they arrive (decoded), an address with user:password in it refused.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from queue import Empty, Queue
from typing import Any, TypeVar

from core import jsonfile, net, redact
from core.errors import NetAddressError, NetError, NetUnreachableError, RemoteEngineError
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
        try:
            net.origin(url)
        except NetAddressError as exc:
            raise RemoteEngineError(
                f"That is not a server address: {exc.message}", "Give it as http://HOST:PORT (or https://...)."
            ) from exc
        base = url.strip().rstrip("/")
        self._endpoint = base[:-3] if base.endswith("/v1") else base
        self.base = redact.value(self._endpoint)  # what is shown: a secret in the query never is
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

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _call(self, path: str, body: dict[str, Any] | None, timeout: float) -> bytes:
        """One request through the door; the answer's body, or a plain RemoteEngineError."""
        try:
            reply = net.request(
                "GET" if body is None else "POST", self._endpoint + path, headers=self._headers(),
                content=None if body is None else json.dumps(body).encode(), max_bytes=MAX_ANSWER_BYTES,
                timeout=timeout,
            )  # fmt: skip
        except NetError as exc:
            raise self._fail(path, exc) from exc
        if reply.status >= 300:
            raise self._refused(path, reply.status, reply.body)
        return reply.body

    def _refused(self, path: str, status: int, body: bytes) -> RemoteEngineError:
        if status == 404:
            return RemoteEngineError(
                f"The server at {self.base} has no {path} (HTTP 404).",
                "Use a server with an OpenAI-compatible API (llama-server, vLLM, TabbyAPI, Ollama's /v1).",
            )
        detail = " ".join(body[:600].decode("utf-8", errors="replace").split())[:300]  # one line, never a forged one
        return RemoteEngineError(f"The server at {self.base} refused {path}: HTTP {status} {detail}".strip())

    def _fail(self, path: str, exc: NetError) -> RemoteEngineError:
        if isinstance(exc, NetUnreachableError):
            return RemoteEngineError(f"Could not reach the server at {self.base}: {exc.message}")
        return RemoteEngineError(f"The server at {self.base} answered {path} in a way that is refused: {exc.message}",
                                 exc.fix)  # fmt: skip

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
        return _answer(self._call(path, body, self.timeout), f"{self.base}{path}")

    # --- API ---

    def connect(self) -> Job[str]:
        """Ask the server which model it serves; remember it (requests name it)."""

        def call() -> str:
            raw = self._call("/v1/models", None, min(self.timeout, 15))
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
            path = "/v1/chat/completions"
            try:
                with net.stream("POST", self._endpoint + path, headers=self._headers(), content=json.dumps(body).encode(),
                                max_bytes=MAX_ANSWER_BYTES, timeout=self.timeout) as resp:  # fmt: skip
                    if resp.status >= 300:
                        raise self._refused(path, resp.status, b"".join(_first(resp.chunks(), 600)))
                    for delta in _sse_deltas(resp.lines()):
                        if stop.is_set():
                            return
                        queue.put(("delta", delta))
                queue.put(("end", None))
            except NetError as exc:
                queue.put(("error", self._fail(path, exc)))
            except RemoteEngineError as exc:
                queue.put(("error", exc))

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


def _first(chunks: Iterator[bytes], n: int) -> Iterator[bytes]:
    """Chunks until about `n` bytes have come (an error page's start, not all of it)."""
    got = 0
    for chunk in chunks:
        yield chunk
        got += len(chunk)
        if got >= n:
            return


def _sse_deltas(lines: Iterable[bytes]) -> Iterator[str]:
    """Text deltas from an OpenAI chat-completions event stream (`data: {...}` lines, `data: [DONE]`)."""
    for raw in lines:
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
