"""A fake OpenAI-compatible gateway: a real HTTP server on 127.0.0.1 for tests and offline use.

It speaks the parts of the OpenAI protocol DevFlow uses (chat completions, streamed as Server-Sent
Events with a final usage chunk, embeddings, models, OpenAI-shaped errors) and answers
deterministically from the request:

- a chat reply is ``"<model> says: <last user message>"``; with ``max_tokens`` it is exactly
  ``max_tokens`` tokens long (4 characters a token, the rule `devflow.llm.tokens` estimates with);
  in JSON mode it is ``{"model": ..., "reply": ...}``; with tools it calls the first (or the chosen)
  tool with ``{"input": <last user message>}``;
- usage counts 4 characters a token; a cost header carries tokens x `FakeOpenAI.prices`;
- an embedding is a unit vector derived from a hash of model and text.

Faults are scripted with `add_fault` (429 with Retry-After, 5xx, stalls past the client's timeout,
streams cut after some chunks, garbage bodies), for one model or all, a number of times or forever.
Every request is logged with its arrival time (`requests`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import secrets
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Self

import orjson
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from devflow.core.threaded_server import ThreadedServer, server_on
from devflow.llm.settings import LLMProviderSettings, LLMSettings
from devflow.llm.tokens import estimate_prompt_tokens, estimate_tokens, message_text

FaultKind = Literal["status", "stall", "cut", "garbage"]
DEFAULT_MODELS = ("fake-chat", "fake-chat-fast", "fake-embed")
_STREAM_PIECE = 16
_DEFAULT_DIMENSIONS = 16


@dataclass
class Fault:
    """A scripted failure.

    Args:
        kind: `status` answers `status` with an OpenAI error body (and `Retry-After` when set);
            `stall` waits `delay` seconds before answering (past the client's timeout);
            `cut` stops a stream after `after_chunks` chunks (a non-streamed answer is truncated);
            `garbage` answers 200 with an HTML page.
        model: only requests for this model (None: any).
        times: how many requests it affects (0: every one, until cleared).
    """

    kind: FaultKind
    status: int = 500
    retry_after: float | None = None
    delay: float = 30.0
    after_chunks: int = 2
    model: str | None = None
    times: int = 1


@dataclass(frozen=True)
class LoggedRequest:
    """One request the fake received."""

    at: float  # time.monotonic() on arrival
    method: str
    path: str
    model: str | None
    headers: dict[str, str]
    body: dict[str, Any]
    fault: FaultKind | None


class _CutStream(Exception):
    """Raised inside a streaming body to drop the connection halfway."""


@dataclass
class FakeOpenAI:
    """The fake gateway. Use as a context manager, or `start()` / `stop()`."""

    api_key: str | None = None
    models: tuple[str, ...] = DEFAULT_MODELS
    strict_models: bool = False
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    cost_header: str | None = "x-aosentry-cost"
    host: str = "127.0.0.1"
    port: int = 0
    _faults: list[Fault] = field(default_factory=list, init=False, repr=False)
    _log: list[LoggedRequest] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _thread: ThreadedServer | None = field(default=None, init=False, repr=False)

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return the OpenAI base URL (`http://127.0.0.1:<port>/v1`)."""
        return f"http://{self.host}:{self.port}/v1"

    def build_app(self) -> Starlette:
        """Return the ASGI app (for running it under another server)."""
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    def start(self) -> Self:
        """Start serving in a background thread; return once it accepts connections."""
        self._thread = ThreadedServer(self.build_app(), self.host, self.port, "fake-openai")
        self.port = self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (`devflow llm fake-server`)."""
        server, sock = server_on(self.build_app(), self.host, self.port)
        self.port = sock.getsockname()[1]
        server.run(sockets=[sock])

    def stop(self) -> None:
        """Stop the server."""
        if self._thread is not None:
            self._thread.stop()
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def llm_settings(self, **overrides: Any) -> LLMSettings:
        """Return LLM settings with one provider, `fake`, pointing here, and aliases to it.

        Aliases: `chat` and `review` -> fake/fake-chat, `chat-fast` -> fake/fake-chat-fast,
        `embed` -> fake/fake-embed. `overrides` replace top-level fields.
        """
        provider = LLMProviderSettings(
            base_url=self.base_url,
            api_key=SecretStr(self.api_key or "fake-key"),
            max_retries=2,
            timeout=5.0,
            # The fake counts exactly 4 characters a token and nothing per message, the rule the
            # client estimates with: budget reservations need no margin against it.
            tokens_per_message=0,
            prompt_margin=0.0,
        )
        values: dict[str, Any] = {
            "default_provider": "fake",
            "providers": {"fake": provider},
            "aliases": {
                "chat": ["fake/fake-chat"],
                "review": ["fake/fake-chat"],
                "chat-fast": ["fake/fake-chat-fast"],
                "embed": ["fake/fake-embed"],
            },
            "backoff_base": 0.01,
            "backoff_max": 5.0,
        }
        values.update(overrides)
        return LLMSettings.model_validate(values)

    # -- scripting ---------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        """Script a failure; faults are matched in the order they were added."""
        with self._lock:
            self._faults.append(fault)

    def fail_model(self, model: str, status: int = 500) -> None:
        """Make every request for `model` fail with `status` until `clear_faults()`."""
        self.add_fault(Fault(kind="status", status=status, model=model, times=0))

    def clear_faults(self) -> None:
        """Forget every scripted fault."""
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[LoggedRequest]:
        """Return the requests received so far, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self._lock:
            self._log.clear()

    def _take_fault(self, model: str | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.model is None or fault.model == model:
                    if fault.times == 1:
                        self._faults.remove(fault)
                    elif fault.times > 1:
                        fault.times -= 1
                    return fault
        return None

    # -- protocol ----------------------------------------------------------------------------------

    async def _admit(
        self, request: Request
    ) -> tuple[dict[str, Any], Fault | None, Response | None]:
        """Log the request; return its body, its fault, or an error answer."""
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        model = body.get("model") if isinstance(body.get("model"), str) else None
        fault = self._take_fault(model) if request.method == "POST" else None
        with self._lock:
            self._log.append(
                LoggedRequest(
                    at=time.monotonic(),
                    method=request.method,
                    path=request.url.path,
                    model=model,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=body,
                    fault=fault.kind if fault else None,
                )
            )
        refusal = self._refusal(request, model)
        if refusal is not None:
            return body, None, refusal
        if fault is not None and fault.kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["retry-after"] = f"{fault.retry_after:g}"
            message = "Rate limit reached" if fault.status == 429 else "The server had an error"  # noqa: PLR2004
            return body, fault, _error(fault.status, message, None, headers=headers)
        if fault is not None and fault.kind == "stall":
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.kind == "garbage":
            return body, fault, Response(b"<html>502 Bad Gateway</html>", media_type="text/html")
        return body, fault, None

    def _refusal(self, request: Request, model: str | None) -> Response | None:
        if self.api_key is not None:
            auth = request.headers.get("authorization", "")
            if not secrets.compare_digest(auth, f"Bearer {self.api_key}"):
                return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if request.method == "POST" and not model:
            return _error(400, "you must provide a model parameter", "missing_model")
        if self.strict_models and model is not None and model not in self.models:
            return _error(404, f"The model `{model}` does not exist", "model_not_found")
        return None

    def _cost_headers(self, model: str, tokens_in: int, tokens_out: int) -> dict[str, str]:
        if self.cost_header is None or model not in self.prices:
            return {}
        price_in, price_out = self.prices[model]
        return {self.cost_header: f"{tokens_in * price_in + tokens_out * price_out:.9f}"}

    async def _chat(self, request: Request) -> Response:
        body, fault, answer = await self._admit(request)
        if answer is not None:
            return answer
        model = str(body["model"])
        messages = body.get("messages") or []
        content, tool_calls, finish = _reply(body)
        tokens_in = estimate_prompt_tokens(messages)
        tokens_out = estimate_tokens(content or orjson.dumps(tool_calls).decode())
        usage = {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        }
        ident = "chatcmpl-" + hashlib.sha256(orjson.dumps(body)).hexdigest()[:24]
        headers = {"x-request-id": ident, **self._cost_headers(model, tokens_in, tokens_out)}
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = _stream_chunks(ident, model, content, tool_calls, finish, usage, include_usage)
            cut = fault.after_chunks if fault is not None and fault.kind == "cut" else None
            return StreamingResponse(
                _sse(chunks, cut), media_type="text/event-stream", headers=headers
            )
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        completion = {
            "id": ident,
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }
        data = orjson.dumps(completion)
        if fault is not None and fault.kind == "cut":
            data = data[: len(data) // 2]
        return Response(data, media_type="application/json", headers=headers)

    async def _embeddings(self, request: Request) -> Response:
        body, _, answer = await self._admit(request)
        if answer is not None:
            return answer
        model = str(body["model"])
        raw_input = body.get("input")
        texts = [raw_input] if isinstance(raw_input, str) else list(raw_input or [])
        if not texts or not all(isinstance(t, str) for t in texts):
            return _error(400, "input must be a string or a list of strings", "invalid_input")
        dims = int(body.get("dimensions") or _DEFAULT_DIMENSIONS)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(texts):
            vector = fake_embedding(model, text, dims)
            encoded: Any = vector
            if as_base64:
                encoded = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(estimate_tokens(t) for t in texts)
        answer_body = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return Response(
            orjson.dumps(answer_body),
            media_type="application/json",
            headers=self._cost_headers(model, tokens, 0),
        )

    async def _models(self, request: Request) -> Response:
        _, _, answer = await self._admit(request)
        if answer is not None:
            return answer
        data = [
            {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "devflow-fake"}
            for m in self.models
        ]
        return Response(
            orjson.dumps({"object": "list", "data": data}), media_type="application/json"
        )


def fake_embedding(model: str, text: str, dims: int = _DEFAULT_DIMENSIONS) -> list[float]:
    """Return the fake's embedding of `text`: a unit vector from a hash of model and text."""
    seed = hashlib.sha256(f"{model}\0{text}".encode()).digest()
    stream = b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(dims // 8 + 1))
    raw = [(b - 127.5) / 127.5 for b in stream[:dims]]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def _error(
    status: int, message: str, code: str | None, *, headers: dict[str, str] | None = None
) -> Response:
    kind = {
        400: "invalid_request_error",
        401: "invalid_request_error",
        404: "invalid_request_error",
        429: "rate_limit_error",
    }.get(status, "server_error")
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return ""


def _reply(body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]], str]:
    """Return the deterministic (content, tool_calls, finish_reason) for a chat request."""
    model = str(body["model"])
    last = _last_user_text(body.get("messages") or [])
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if tools and choice != "none":
        name = tools[0]["function"]["name"]
        if isinstance(choice, dict):
            name = choice["function"]["name"]
        arguments = orjson.dumps({"input": last}).decode()
        call_id = "call_" + hashlib.sha256(arguments.encode()).hexdigest()[:16]
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        return None, [call], "tool_calls"
    if (body.get("response_format") or {}).get("type") in {"json_object", "json_schema"}:
        return orjson.dumps({"model": model, "reply": last}).decode(), [], "stop"
    content = f"{model} says: {last}"
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    if isinstance(max_tokens, int) and max_tokens > 0:
        size = max_tokens * 4
        content = ((content + " ") * (size // (len(content) + 1) + 1))[:size]
        return content, [], "length"
    return content, [], "stop"


def _stream_chunks(
    ident: str,
    model: str,
    content: str | None,
    tool_calls: list[dict[str, Any]],
    finish: str,
    usage: dict[str, int],
    include_usage: bool,
) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    yield chunk({"role": "assistant", "content": ""})
    text = content or ""
    for start in range(0, len(text), _STREAM_PIECE):
        yield chunk({"content": text[start : start + _STREAM_PIECE]})
    for i, call in enumerate(tool_calls):
        yield chunk({"tool_calls": [{"index": i, **call}]})
    yield chunk({}, finish)
    if include_usage:
        yield {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [],
            "usage": usage,
        }


async def _sse(chunks: Iterator[dict[str, Any]], cut_after: int | None) -> AsyncIterator[bytes]:
    for sent, item in enumerate(chunks):
        if cut_after is not None and sent >= cut_after:
            raise _CutStream
        yield b"data: " + orjson.dumps(item) + b"\n\n"
    yield b"data: [DONE]\n\n"
