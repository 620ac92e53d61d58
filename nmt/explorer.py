"""The attention explorer's web app: a Starlette (ASGI) app over loaded models, and its page.

``create_app(models, limits)`` serves

* ``GET /``: the page (``nmt/web/index.html``; its script and style under ``/static/``, from the package);
* ``GET /api/models``: the loaded runs, their attention layout and the limits;
* ``POST /api/translate``, ``POST /api/attention``, ``POST /api/next-token``: JSON in, JSON out, the
  numbers the page draws (``nmt.explorer_models.ExplorerModel`` computes them).

Requests are serialised: one worker thread runs the models, one request at a time, so that many
requests at once queue instead of multiplying memory; at most ``limits.max_queue`` wait, and more get
503. A request whose client has gone away while it waited is dropped before it reaches the model.
Every refusal is a JSON ``{"error": "<one line>"}`` with a 4xx status (5xx only for a bug, logged).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from nmt.explorer_models import ExplorerModel, Limits, RequestError, check_text

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent / "web"
MAX_BODY = 1 << 20  # bytes of JSON a request may send, whatever its text limit


# --------------------------------------------------------------------------- request bodies


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    runs: list[str] | None = Field(None, description="model labels (default: every loaded run)")

    def piece_ids(self) -> list[int] | None:
        """Target piece ids the request carries: they belong to one run's vocabulary."""
        return None


class TranslateBody(_Body):
    strategy: Literal["greedy", "beam", "sample"] = "beam"
    beam_size: int = Field(5, ge=1)
    n_best: int = Field(1, ge=1)
    length_penalty: float = Field(0.6, ge=0)
    temperature: float = Field(1.0, gt=0, le=100)
    top_k: int = Field(0, ge=0)
    seed: int | None = None


class AttentionBody(_Body):
    target_ids: list[int] | None = None
    reference: bool = False
    kind: Literal["cross", "encoder", "decoder"] = "cross"
    layer: int | None = Field(None, ge=1)
    head: int | Literal["avg"] = "avg"
    words: bool = False

    def piece_ids(self) -> list[int] | None:
        return self.target_ids


class NextTokenBody(_Body):
    prefix_ids: list[int] = []
    temperature: float = Field(1.0, gt=0, le=100)
    top_k: int = Field(0, ge=0)
    k: int = Field(10, ge=1)

    def piece_ids(self) -> list[int] | None:
        return self.prefix_ids or None


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _first_problem(err: ValidationError) -> str:
    problem = err.errors()[0]
    where = ".".join(str(p) for p in problem["loc"]) or "body"
    return f"{where}: {problem['msg']}"


async def read_body(request: Request, model: type[BaseModel]) -> BaseModel:
    """The request's JSON body, checked: UTF-8, valid JSON, the fields of ``model``; else a RequestError."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise RequestError(f"the request body is over {MAX_BODY} bytes; send one sentence at a time", 413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RequestError(f"the request body is not valid UTF-8 (byte {err.start}); send JSON in UTF-8", 400) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RequestError(
            f"the request body is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})", 400
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise RequestError(f"bad request field {_first_problem(err)}", 422) from None


# --------------------------------------------------------------------------- one worker for the models


class ModelWorker:
    """Runs model calls one at a time on one worker thread; refuses work beyond ``max_queue`` waiting."""

    def __init__(self, max_queue: int) -> None:
        self.max_queue, self.waiting = max_queue, 0
        self._lock: anyio.Lock | None = None

    async def run(self, request: Request, work: Callable[[], Any]) -> Any:
        if self.waiting >= self.max_queue:
            raise RequestError(
                f"busy: {self.waiting} requests are waiting (max_queue={self.max_queue}); retry soon", 503
            )
        self._lock = self._lock or anyio.Lock()
        self.waiting += 1
        try:
            async with self._lock:
                if await request.is_disconnected():
                    raise ClientDisconnect()
                return await anyio.to_thread.run_sync(work)
        finally:
            self.waiting -= 1


# --------------------------------------------------------------------------- the app


def _translate(m: ExplorerModel, b: TranslateBody) -> dict[str, Any]:
    return m.translate(b.text, b.model_dump(exclude={"text", "runs"}))


def _attention(m: ExplorerModel, b: AttentionBody) -> dict[str, Any]:
    return m.attention(b.text, b.target_ids, b.reference, b.kind, b.layer, b.head, b.words)


def _next_token(m: ExplorerModel, b: NextTokenBody) -> dict[str, Any]:
    return m.next_token(b.text, b.prefix_ids, b.temperature, b.top_k, b.k)


def create_app(models: Mapping[str, ExplorerModel], limits: Limits) -> Starlette:
    """The explorer's ASGI app over loaded models (label -> model), the first one shown first."""
    if not models:
        raise ValueError("create_app needs at least one model")
    worker = ModelWorker(limits.max_queue)

    def chosen(body: _Body) -> list[ExplorerModel]:
        labels = body.runs or list(models)
        unknown = [r for r in labels if r not in models]
        if unknown:
            raise RequestError(f"unknown run {unknown[0]!r}: this server has {list(models)}", 404)
        if len(labels) > 1 and body.piece_ids() is not None:
            raise RequestError(f"piece ids belong to one run's vocabulary: name that run, e.g. runs=[{labels[0]!r}]")
        return [models[r] for r in labels]

    def endpoint(body_type: type[_Body], answer: Callable[[ExplorerModel, Any], dict[str, Any]]) -> Callable:
        async def handle(request: Request) -> JSONResponse:
            try:
                body = await read_body(request, body_type)
                check_text(body.text, limits)  # before queueing: bad input never waits for the model
                targets = chosen(body)
                results = await worker.run(request, lambda: [answer(m, body) for m in targets])
            except RequestError as err:
                return _error(str(err), err.status)
            except ClientDisconnect:
                log.info("%s: the client went away before its answer", request.url.path)
                return _error("the client disconnected", 499)
            except Exception:  # a bug: logged with its traceback, the server keeps serving
                log.exception("%s failed", request.url.path)
                return _error("internal error (see the server's log)", 500)
            return JSONResponse({"results": results})

        return handle

    async def info(request: Request) -> JSONResponse:
        limits_json = {k: getattr(limits, k) for k in ("max_chars", "max_beam", "max_samples", "max_top_k")}
        return JSONResponse({"models": [m.info() for m in models.values()], "limits": limits_json})

    async def page(request: Request) -> FileResponse:
        return FileResponse(WEB / "index.html")

    routes = [
        Route("/", page),
        Route("/api/models", info),
        Route("/api/translate", endpoint(TranslateBody, _translate), methods=["POST"]),
        Route("/api/attention", endpoint(AttentionBody, _attention), methods=["POST"]),
        Route("/api/next-token", endpoint(NextTokenBody, _next_token), methods=["POST"]),
        Mount("/static", StaticFiles(directory=WEB), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.worker = worker
    return app
