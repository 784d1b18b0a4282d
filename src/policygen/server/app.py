"""The Starlette application: model-derived routes, thin endpoints, one log line per request.

Every request first passes the `Gate`: its SigV4 signature (unless authentication is
off), a bounded body and the rate limit. Each supported operation's route comes from the
model (`requestUri`, method); its endpoint parses with `protocol`, runs the backend method
in a thread (SQLite calls never block the event loop; jobs run in worker processes) and
writes the modelled response or error. Any other path answers `ValidationException`
(`notSupported` for the service's other operations, `unknownOperation` otherwise); what
is not HTTP the routes understand answers `MalformedHttpRequestException`. No answer
is ever a traceback.
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
from datetime import timedelta
from typing import Any

import h11
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from policygen.server import protocol
from policygen.server.auth import Authenticator, Caller, RequestHead
from policygen.server.backend import PolicyGenerationService
from policygen.server.console import console_routes
from policygen.server.errors import (
    InternalServerError,
    MalformedHttpRequestError,
    RequestEntityTooLargeError,
    ServiceError,
    ValidationError,
)
from policygen.server.settings import ConfigError, ServerSettings
from policygen.server.throttle import RateLimiter, caller_key

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
#: Largest request body read: an Access Analyzer request is a few kilobytes.
MAX_BODY_BYTES = 1024 * 1024
#: How long SIGTERM waits for requests in flight before stopping the workers.
DRAIN_SECONDS = 10
#: Backend operations take the validated input and the caller's account (None: no auth).
Handler = Callable[[dict[str, Any], str | None], dict[str, Any]]


def _response(wire: protocol.WireResponse) -> Response:
    return Response(wire.body, wire.status, wire.headers)


def _note(request: Request, operation: str, error: str | None = None) -> None:
    """What the access log line should say about this request."""
    request.state.operation = operation
    request.state.error = error


def request_head(scope: Scope) -> RequestHead:
    """The request line and headers exactly as received (for signature checks)."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return RequestHead(
        scope["method"],
        raw_path.decode("latin-1"),
        scope["query_string"].decode("latin-1"),
        [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]],
    )


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused beyond `limit` bytes whatever Content-Length claims."""
    declared = request.headers.get("content-length", "")
    too_large = RequestEntityTooLargeError(f"The request body is larger than {limit} bytes.")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:  # nobody will read the answer, but the log says what happened
        raise MalformedHttpRequestError("The request body ended early.") from None
    return b"".join(chunks)


class Gate:
    """What a request passes before any work: its signature (whatever the head decides is
    refused before the body is read), a bounded body, then the caller's rate limit."""

    def __init__(self, authenticator: Authenticator | None, limiter: RateLimiter) -> None:
        self.authenticator = authenticator
        self.limiter = limiter

    async def admit(self, request: Request) -> tuple[Caller | None, bytes]:
        """The verified caller (None without authentication) and the request body."""
        caller = None
        if self.authenticator is None:
            body = await read_body(request)
        else:
            head = request_head(request.scope)
            claim = self.authenticator.check_head(head)
            body = await read_body(request)
            caller = self.authenticator.verify(head, claim, body)
        address = request.client and request.client.host
        key = caller.access_key_id if caller else None
        self.limiter.check(caller_key(request.headers, address, key))
        return caller, body


def _error(request: Request, operation: str, error: ServiceError) -> Response:
    _note(request, operation, error.code)
    return _response(protocol.error_response(error))


def _endpoint(name: str, handler: Handler, gate: Gate) -> Callable[[Request], Any]:
    operation = protocol.operation(name)

    async def endpoint(request: Request) -> Response:
        _note(request, name)
        try:
            caller, body = await gate.admit(request)
            raw = protocol.RawRequest(
                request.path_params,
                {key: request.query_params.getlist(key) for key in request.query_params},
                request.headers,
                body,
            )
            params = protocol.parse_request(operation, raw)
            extensions = protocol.parse_extensions(name, raw.query)
            if extensions:
                params["extensions"] = extensions
            account = caller.account if caller else None
            result = await run_in_threadpool(handler, params, account)
            return _response(protocol.response(operation, result))
        except ServiceError as exc:
            return _error(request, name, exc)
        except Exception:
            log.exception("%s failed", name)
            error = InternalServerError("An internal error occurred; the server log has details.")
            return _error(request, name, error)

    return endpoint


def _unsupported(gate: Gate) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        name = protocol.match_operation(request.method, request.url.path)
        try:
            await gate.admit(request)  # strangers learn nothing, not even what is supported
        except ServiceError as exc:
            return _error(request, name or "unknown", exc)
        if name is None:
            message = f"No Access Analyzer operation is {request.method} {request.url.path}."
            error = ValidationError(message, reason="unknownOperation")
        else:
            message = f"{name} is not supported: policygen implements policy generation only."
            error = ValidationError(message, reason="notSupported")
        return _error(request, name or "unknown", error)

    return endpoint


async def _not_routed(request: Request, exc: Exception) -> Response:
    """Methods and request targets no route takes (`OPTIONS`, absolute-form URLs)."""
    status = exc.status_code if isinstance(exc, HTTPException) else 400
    message = f"Cannot handle {request.method} {request.url.path} (HTTP {status})."
    return _error(request, "unknown", MalformedHttpRequestError(message))


class TypedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering requests that are not valid HTTP (raw
    non-ASCII in the target, bad header syntax, a broken chunked body) with a typed error
    instead of plain text. A request whose body turns out broken is already in the app:
    it is told the client is gone, so it neither answers twice nor logs a traceback."""

    def send_400_response(self, msg: str) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        wire = protocol.error_response(MalformedHttpRequestError(f"Invalid HTTP request: {msg}"))
        headers = [(k.lower().encode(), v.encode()) for k, v in wire.headers.items()]
        headers += [(b"content-length", str(len(wire.body)).encode()), (b"connection", b"close")]
        for event in (
            h11.Response(status_code=wire.status, headers=headers, reason=b"Bad Request"),
            h11.Data(data=wire.body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


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


def create_app(
    service: PolicyGenerationService,
    rate_limit: float = 0,
    authenticator: Authenticator | None = None,
) -> Starlette:
    """The ASGI app for a service; the lifespan starts and stops its store and workers.

    `authenticator` None serves anyone (`--no-auth`); `/health` is always open.
    """
    gate = Gate(authenticator, RateLimiter(rate_limit))
    routes = [Route("/health", _health, methods=["GET"])]
    for name, method in OPERATIONS.items():
        operation = protocol.operation(name)
        handler = getattr(service, method)
        routes.append(
            Route(
                protocol.route_path(operation),
                _endpoint(name, handler, gate),
                methods=[operation.http["method"]],
            )
        )
    routes += console_routes(service, authenticator is not None, _unsupported(gate))
    routes.append(Route("/{path:path}", _unsupported(gate), methods=ALL_METHODS))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(service.start_up)
        log.info("ready")
        yield
        log.info("shutting down")
        await run_in_threadpool(service.shut_down)

    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _not_routed}
    )
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
    """Run the server until SIGTERM or Ctrl-C. Shutting down takes at most `DRAIN_SECONDS`
    for requests, `shutdown_grace` for running jobs and `jobs.STOP_SECONDS` for workers;
    jobs left unfinished are resumed on the next start."""
    import uvicorn

    configure_logging()
    lock = _lock_data_dir(settings)
    sock = _listen(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    service = PolicyGenerationService.create(settings)
    service.store.migrate()
    app = create_app(service, settings.rate_limit, authenticator_for(settings))
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        http=TypedH11Protocol,
        timeout_graceful_shutdown=DRAIN_SECONDS,
    )
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


def authenticator_for(settings: ServerSettings) -> Authenticator | None:
    """SigV4 verification with the configured keys, or None when it was turned off."""
    if not settings.auth:
        log.warning("authentication is OFF (--no-auth): anyone on this machine may call it")
        return None
    accounts = {key.account for key in settings.credentials.values()}
    log.info(
        "authentication: SigV4 with %d access key(s) of %d account(s)",
        len(settings.credentials),
        len(accounts),
    )
    path = settings.credentials_file
    if path is not None and path.stat().st_mode & 0o077:
        log.warning("credentials file %s is readable by others: chmod 600 it", path)
    return Authenticator(settings.credentials, timedelta(seconds=settings.clock_skew))


def _stopped(signum: int, frame: object) -> None:
    log.info("stopped by %s", signal.Signals(signum).name)
