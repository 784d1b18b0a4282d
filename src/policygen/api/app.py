"""The Starlette application: model-derived routes, thin endpoints, one log line per request.

Each supported operation's route comes from the model (`requestUri`, method); its endpoint
parses with `protocol`, runs the backend method in a thread (SQLite calls never block the
event loop; jobs run in worker processes) and writes the modelled response or error.
Any other path answers `ValidationException` (`notSupported` for the service's other
operations, `unknownOperation` otherwise).
"""

from __future__ import annotations

import fcntl
import logging
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policygen.api import protocol
from policygen.api.errors import InternalServerError, ServiceError, ValidationError
from policygen.api.throttle import RateLimiter, caller_key
from policygen.config import ConfigError, ServerSettings
from policygen.service import PolicyGenerationService

log = logging.getLogger("policygen.server")
access_log = logging.getLogger("policygen.access")

#: Operation -> backend method name. Everything else in the model is "not supported".
OPERATIONS = {
    "StartPolicyGeneration": "start_policy_generation",
    "GetGeneratedPolicy": "get_generated_policy",
    "ListPolicyGenerations": "list_policy_generations",
    "CancelPolicyGeneration": "cancel_policy_generation",
}
ALL_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"]
REQUEST_ID_HEADER = "x-amzn-RequestId"


def _response(wire: protocol.WireResponse) -> Response:
    return Response(wire.body, wire.status, wire.headers)


def _note(request: Request, operation: str, error: str | None = None) -> None:
    """What the access log line should say about this request."""
    request.state.operation = operation
    request.state.error = error


def _endpoint(
    name: str, handler: Callable[[dict[str, Any]], dict[str, Any]], limiter: RateLimiter
) -> Callable[[Request], Any]:
    operation = protocol.operation(name)

    async def endpoint(request: Request) -> Response:
        _note(request, name)
        try:
            limiter.check(caller_key(request.headers, request.client and request.client.host))
            raw = protocol.RawRequest(
                request.path_params,
                {key: request.query_params.getlist(key) for key in request.query_params},
                request.headers,
                await request.body(),
            )
            params = protocol.parse_request(operation, raw)
            extensions = protocol.parse_extensions(name, raw.query)
            if extensions:
                params["extensions"] = extensions
            return _response(protocol.response(operation, await run_in_threadpool(handler, params)))
        except ServiceError as exc:
            _note(request, name, exc.code)
            return _response(protocol.error_response(exc))
        except Exception:
            log.exception("%s failed", name)
            _note(request, name, InternalServerError.code)
            error = InternalServerError("An internal error occurred; the server log has details.")
            return _response(protocol.error_response(error))

    return endpoint


async def _unsupported(request: Request) -> Response:
    name = protocol.match_operation(request.method, request.url.path)
    if name is None:
        message = f"No Access Analyzer operation is {request.method} {request.url.path}."
        error = ValidationError(message, reason="unknownOperation")
    else:
        message = f"{name} is not supported: policygen implements policy generation only."
        error = ValidationError(message, reason="notSupported")
    _note(request, name or "unknown", error.code)
    return _response(protocol.error_response(error))


async def _health(request: Request) -> Response:
    _note(request, "health")
    return JSONResponse({"status": "ok"})


class AccessLog:
    """One line per request (address, method, path, status, operation, error, time), and a
    request id header as AWS sends one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        request_id = str(uuid.uuid4())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            state = scope.get("state", {})
            client = scope.get("client") or ("-", 0)
            access_log.info(
                '%s "%s %s" %d %s%s %.1fms id=%s',
                client[0],
                scope["method"],
                scope["path"],
                status,
                state.get("operation", "-"),
                f" {state['error']}" if state.get("error") else "",
                (time.perf_counter() - began) * 1000,
                request_id,
            )


def create_app(service: PolicyGenerationService, rate_limit: float = 0) -> Starlette:
    """The ASGI app for a service; the lifespan starts and stops its store and workers."""
    limiter = RateLimiter(rate_limit)
    routes = [Route("/health", _health, methods=["GET"])]
    for name, method in OPERATIONS.items():
        operation = protocol.operation(name)
        handler = getattr(service, method)
        routes.append(
            Route(
                protocol.route_path(operation),
                _endpoint(name, handler, limiter),
                methods=[operation.http["method"]],
            )
        )
    routes.append(Route("/{path:path}", _unsupported, methods=ALL_METHODS))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(service.start_up)
        log.info("ready")
        yield
        log.info("shutting down")
        await run_in_threadpool(service.shut_down)

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(AccessLog)
    return app


def configure_logging() -> None:
    """Timestamped lines on stderr; uvicorn's own start-up chatter is left out."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def _listen(host: str, port: int) -> socket.socket:
    """Bind before serving, so a taken port is a one-line error and port 0 works."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


def _lock_data_dir(settings: ServerSettings) -> Any:
    """One server per data directory: a second one would run the same jobs twice."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(settings.data_dir / "server.lock", "w")  # noqa: SIM115 (held while serving)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ConfigError(f"another policygen server is using {settings.data_dir}") from None
    return handle


def serve(settings: ServerSettings) -> None:
    """Run the server until SIGTERM or Ctrl-C; jobs in progress are resumed on the next start."""
    import uvicorn

    configure_logging()
    lock = _lock_data_dir(settings)
    sock = _listen(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    service = PolicyGenerationService.create(settings)
    service.store.migrate()
    app = create_app(service, settings.rate_limit)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    log.info(
        "policygen serving on http://%s:%d (data %s, %d trail(s), %d worker(s))",
        f"[{host}]" if ":" in host else host,
        port,
        settings.data_dir,
        len(settings.trails),
        settings.workers,
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal with the
    # handlers it found: these make that a log line and a normal exit (status 0).
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        lock.close()


def _stopped(signum: int, frame: object) -> None:
    log.info("stopped by %s", signal.Signals(signum).name)
