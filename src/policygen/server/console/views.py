"""The console's routes: server-rendered pages under /console/, a little JSON for
following a running job, and downloads.

Every endpoint goes through `Console.guarded`: it finds (or starts) the visitor's
session, refuses a POST whose CSRF token is not the session's with a 403 before anything
is read or changed, and sends visitors who must sign in to the sign-in page. Jobs are
started, read and canceled through the API's backend with the session's account, so
another account's job is as unknown here (404) as it is to the API.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from policygen.core.arns import Principal
from policygen.core.time import now
from policygen.policy import formats
from policygen.server import protocol
from policygen.server.backend import PolicyGenerationService
from policygen.server.console import pages
from policygen.server.console.removes import removes_page
from policygen.server.console.session import CSRF_FIELD, Session, Sessions
from policygen.server.errors import (
    MalformedHttpRequestError,
    ServiceError,
    ThrottlingError,
    ValidationError,
)
from policygen.server.throttle import RateLimiter

log = logging.getLogger("policygen.console")

HERE = Path(__file__).parent
PREFIX = "/console"
#: Largest form accepted: the start form is well under a kilobyte.
MAX_FORM_BYTES = 64 * 1024
#: `datetime-local` inputs send minutes without a zone: the form says they are UTC.
LOCAL_MINUTE_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
ALL_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"]
#: The job's policy ready to apply, by file suffix: the format and its media type.
READY_TO_APPLY: dict[str, tuple[formats.Format, str]] = {
    "tf": ("terraform", "text/plain"),
    "yaml": ("cloudformation", "application/yaml"),
}
DEFAULT_ACCESS_ROLE = "role/service-role/AccessAnalyzerMonitorServiceRole"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Form = dict[str, list[str]]
Handler = Callable[[Request, Session, Form], Awaitable[Response]]


class FormTooLarge(Exception):
    """A form body beyond `MAX_FORM_BYTES`."""


def environment() -> jinja2.Environment:
    """The templates, autoescaped: everything from logs is shown as text."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["urlpart"] = lambda text: quote(str(text), safe="")
    return env


async def read_form(request: Request) -> Form:
    """An `application/x-www-form-urlencoded` body, bounded; every value a list."""
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise FormTooLarge
        chunks.append(chunk)
    form: Form = {}
    text = b"".join(chunks).decode("utf-8", "replace")
    for name, value in parse_qsl(text, keep_blank_values=True, max_num_fields=200):
        form.setdefault(name, []).append(value)
    return form


def first(form: Form, name: str) -> str:
    """A form field's first value, stripped ("" when absent)."""
    return (form.get(name) or [""])[0].strip()


class Console:
    """The console's state: the backend, the sessions, the templates."""

    def __init__(self, service: PolicyGenerationService, auth: bool) -> None:
        self.service = service
        self.sessions = Sessions(service.settings.credentials, auth)
        self.templates = environment()
        self.sign_in_limiter = RateLimiter(service.settings.rate_limit)

    # --- responses ---------------------------------------------------------------------

    def page(self, session: Session, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        """A rendered page with what every page shows (account, sign-out, CSRF token)."""
        html = self.templates.get_template(template).render(
            csrf_field=CSRF_FIELD,
            csrf=session.csrf,
            auth=self.sessions.auth,
            signed_in=self.sessions.signed_in(session),
            key_id=session.access_key_id,
            account=self.sessions.account(session),
            **ctx,
        )
        return HTMLResponse(html, status)

    def problem(self, session: Session, status: int, title: str, message: str) -> HTMLResponse:
        return self.page(session, "problem.html", status, title=title, message=message)

    def guarded(self, handler: Handler, *, post: bool = False, sign_in: bool = True) -> Any:
        """`handler` behind the session, CSRF and sign-in checks, with the console's headers."""

        async def endpoint(request: Request) -> Response:
            if "\n" in request.scope["path"]:  # routing's `$` matched before a final line break:
                return _unroutable(request)  # no console page takes such a target
            request.state.operation = "console"
            session = self.sessions.read(request)
            fresh = session is None
            current = session or Session.fresh()
            response = await self._checked(request, session, current, handler, post, sign_in)
            if fresh and "set-cookie" not in response.headers:
                self.sessions.write(request, response, current)
            response.headers.update(HEADERS)
            return response

        return endpoint

    async def _checked(
        self,
        request: Request,
        session: Session | None,
        current: Session,
        handler: Handler,
        post: bool,
        sign_in: bool,
    ) -> Response:
        form: Form = {}
        if post:
            try:
                form = await read_form(request)
            except FormTooLarge:
                return self.problem(current, 413, "Too large", "The form is too large.")
            if session is None or not session.csrf_matches(first(form, CSRF_FIELD) or None):
                log.warning("console: %s %s refused: CSRF token", request.method, request.url.path)
                message = "The form's security token is missing or out of date: reload the page."
                return self.problem(current, 403, "Refused", message)
        if sign_in and not self.sessions.signed_in(session):
            if post:
                return self.problem(current, 403, "Refused", "Sign in first.")
            return RedirectResponse(f"{PREFIX}/sign-in?next={quote(request.url.path)}", 303)
        try:
            return await handler(request, current, form)
        except ValidationError:
            message = "No such policy generation in this account."
            return self.problem(current, 404, "Not found", message)
        except Exception:  # as the API: a page saying so, the traceback in the log only
            log.exception("console: %s %s failed", request.method, request.url.path)
            message = "An internal error occurred; the server log has details."
            return self.problem(current, 500, "Internal error", message)

    # --- sign-in -----------------------------------------------------------------------

    async def sign_in_form(self, request: Request, session: Session, form: Form) -> Response:
        if not self.sessions.auth or self.sessions.signed_in(session):
            return RedirectResponse(f"{PREFIX}/", 303)
        target = safe_next(request.query_params.get("next"))
        return self.page(session, "sign_in.html", next=target, error=None)

    async def sign_in(self, request: Request, session: Session, form: Form) -> Response:
        if not self.sessions.auth:
            return RedirectResponse(f"{PREFIX}/", 303)
        target = safe_next(first(form, "next"))
        address = request.client.host if request.client else "?"
        try:
            self.sign_in_limiter.check(f"addr:{address}")
        except ThrottlingError as exc:
            return self.page(session, "sign_in.html", 429, next=target, error=exc.message)
        key = self.sessions.check_secret(
            first(form, "access_key_id"), (form.get("secret_access_key") or [""])[0]
        )
        if key is None:
            log.warning("console: sign-in refused from %s", address)
            error = "The access key ID or the secret access key is not valid."
            return self.page(session, "sign_in.html", 401, next=target, error=error)
        log.info("console: %s signed in (account %s)", key.access_key_id, key.account)
        response = RedirectResponse(target, 303)
        self.sessions.write(request, response, Session.fresh(key.access_key_id))
        return response

    async def sign_out(self, request: Request, session: Session, form: Form) -> Response:
        response = RedirectResponse(f"{PREFIX}/sign-in" if self.sessions.auth else PREFIX, 303)
        self.sessions.write(request, response, Session.fresh())
        return response

    # --- jobs --------------------------------------------------------------------------

    async def jobs(self, request: Request, session: Session, form: Form) -> Response:
        return await self._jobs_page(request, session, form={}, error=None)

    async def _jobs_page(
        self,
        request: Request,
        session: Session,
        form: dict[str, Any],
        error: ServiceError | None,
        status: int = 200,
    ) -> Response:
        account = self.sessions.account(session)
        token = request.query_params.get("page")
        try:
            rows, next_token = await run_in_threadpool(
                pages.job_rows, self.service, account, token, now()
            )
        except ValidationError:
            message = "That page of jobs does not exist: start again from the newest."
            return self.problem(session, 400, "Bad page", message)
        seen = await run_in_threadpool(pages.suggestions, self.service, account)
        settings = self.service.settings
        return self.page(
            session,
            "jobs.html",
            status,
            rows=rows,
            next_token=next_token,
            paged=bool(token),
            suggestions=seen,
            trails=sorted(settings.trails),
            default_trail=settings.default_trail,
            other_trail=settings.resolve_trails,
            form=form,
            error=error,
            client_token=str(uuid.uuid4()),
            max_window_days=settings.max_window_days,
            default_start=(now() - timedelta(days=settings.max_window_days)).strftime(
                "%Y-%m-%dT%H:%M"
            ),
        )

    async def start(self, request: Request, session: Session, form: Form) -> Response:
        account = self.sessions.account(session)
        values: dict[str, Any] = {name: first(form, name) for name in form}
        values["trail_list"] = form.get("trail", [])
        try:
            params = start_params(form)
            answer = await run_in_threadpool(self.service.start_policy_generation, params, account)
        except ServiceError as exc:
            status = protocol.error_response(exc).status
            return await self._jobs_page(request, session, values, exc, status)
        return RedirectResponse(f"{PREFIX}/jobs/{answer['jobId']}", 303)

    async def job(self, request: Request, session: Session, form: Form) -> Response:
        job_id = request.path_params["job_id"]
        rendering = pages.Rendering.from_query(request.query_params)
        page = await run_in_threadpool(
            pages.job_page, self.service, job_id, self.sessions.account(session), rendering, now()
        )
        return self.page(session, "job.html", page=page, modes=pages.RESOURCE_MODES)

    async def status(self, request: Request, session: Session, form: Form) -> Response:
        job = await run_in_threadpool(
            self.service.visible_job, request.path_params["job_id"], self.sessions.account(session)
        )
        return JSONResponse({"jobId": job.job_id, "status": job.status.value})

    async def download(self, request: Request, session: Session, form: Form) -> Response:
        job_id, number = request.path_params["job_id"], request.path_params["number"]
        rendering = pages.Rendering.from_query(request.query_params)
        page = await run_in_threadpool(
            pages.job_page, self.service, job_id, self.sessions.account(session), rendering, now()
        )
        if not 1 <= number <= len(page.policies):
            message = "This job has no such policy."
            return self.problem(session, 404, "Not found", message)
        name = f"policy-{job_id}-{number}.json"
        return Response(
            page.policies[number - 1] + "\n",
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def download_all(self, request: Request, session: Session, form: Form) -> Response:
        """Every document of the job, ready to apply: Terraform or CloudFormation."""
        job_id, suffix = request.path_params["job_id"], request.path_params["suffix"]
        if suffix not in READY_TO_APPLY:
            return self.problem(session, 404, "Not found", "There is no such download.")
        form_name, media = READY_TO_APPLY[suffix]
        rendering = pages.Rendering.from_query(request.query_params)
        page = await run_in_threadpool(
            pages.job_page, self.service, job_id, self.sessions.account(session), rendering, now()
        )
        if not page.policies:
            return self.problem(session, 404, "Not found", "This job has no policy yet.")
        principal = Principal.parse(page.job.spec.principal_arn)
        targets = formats.managed_targets(principal, [json.loads(p) for p in page.policies])
        description = f"policygen: least-privilege policy for {principal.arn}"
        return Response(
            formats.render(targets, form_name, description),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="policy-{job_id}.{suffix}"'},
        )

    async def removes(self, request: Request, session: Session, form: Form) -> Response:
        """What the job's calls would remove from the principal's policies (IAM read now)."""
        job_id, account = request.path_params["job_id"], self.sessions.account(session)
        page = await run_in_threadpool(removes_page, self.service, job_id, account)
        return self.page(session, "removes.html", page=page)

    async def cancel(self, request: Request, session: Session, form: Form) -> Response:
        job_id = request.path_params["job_id"]
        account = self.sessions.account(session)
        await run_in_threadpool(self.service.cancel_policy_generation, {"jobId": job_id}, account)
        return RedirectResponse(f"{PREFIX}/jobs/{job_id}", 303)

    async def not_found(self, request: Request, session: Session, form: Form) -> Response:
        return self.problem(session, 404, "Not found", "There is no such page.")


def _unroutable(request: Request) -> Response:
    """The API's typed 400 for a request target no route takes."""
    message = f"Cannot handle {request.method} {request.url.path} (HTTP 404)."
    wire = protocol.error_response(MalformedHttpRequestError(message))
    return Response(wire.body, wire.status, wire.headers)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if target and target.startswith(f"{PREFIX}/") and "\\" not in target and "//" not in target:
        return target
    return f"{PREFIX}/"


def start_params(form: Form) -> dict[str, Any]:
    """StartPolicyGeneration's input from the start form, validated by the API's model (a
    ValidationError names the member, as the API would)."""
    principal = first(form, "principal")
    regions = sorted({r for r in re.split(r"[\s,]+", first(form, "regions")) if r})
    arns = [arn.strip() for arn in form.get("trail", []) if arn.strip()]
    if first(form, "other_trail"):
        arns.append(first(form, "other_trail"))
    details: dict[str, Any] = {
        "trails": [
            {"cloudTrailArn": arn, "regions": regions, "allRegions": not regions} for arn in arns
        ],
        "accessRole": first(form, "access_role") or default_access_role(principal),
        "startTime": utc(first(form, "start")),
    }
    if first(form, "end"):
        details["endTime"] = utc(first(form, "end"))
    body = {
        "policyGenerationDetails": {"principalArn": principal},
        "cloudTrailDetails": details,
    }
    if first(form, "client_token"):
        body["clientToken"] = first(form, "client_token")
    raw = protocol.RawRequest({}, {}, {}, json.dumps(body).encode())
    return protocol.parse_request(protocol.operation("StartPolicyGeneration"), raw)


def utc(text: str) -> str | None:
    """A form's time: `datetime-local` minutes are UTC; other text is read as the API reads
    it (None when empty, which the model refuses by name)."""
    if not text:
        return None
    return f"{text}:00Z" if LOCAL_MINUTE_RE.fullmatch(text) else text


def default_access_role(principal_arn: str) -> str:
    """AWS's conventional access role in the principal's account (used only for trails
    found with GetTrail)."""
    parts = principal_arn.split(":")
    if len(parts) < 5:
        return ""
    return f"arn:{parts[1]}:iam::{parts[4]}:{DEFAULT_ACCESS_ROLE}"


def console_routes(
    service: PolicyGenerationService, auth: bool, other: Callable[[Request], Awaitable[Response]]
) -> list[BaseRoute]:
    """The console, mounted at /console/ (its own 404 for paths it does not know), and `/`
    sending browsers there; `other` answers what is not a browser's GET of `/` (the API's
    answer for a path that is no operation)."""

    async def home(request: Request) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            request.state.operation = "console"
            return RedirectResponse(f"{PREFIX}/", 303)
        return await other(request)

    console = Console(service, auth)
    guarded = console.guarded
    routes = [
        Route("/", guarded(console.jobs), methods=["GET"]),
        Route("/sign-in", guarded(console.sign_in_form, sign_in=False), methods=["GET"]),
        Route("/sign-in", guarded(console.sign_in, post=True, sign_in=False), methods=["POST"]),
        Route("/sign-out", guarded(console.sign_out, post=True, sign_in=False), methods=["POST"]),
        Route("/jobs", guarded(console.jobs), methods=["GET"]),
        Route("/jobs", guarded(console.start, post=True), methods=["POST"]),
        Route("/jobs/{job_id}", guarded(console.job), methods=["GET"]),
        Route("/jobs/{job_id}/status", guarded(console.status), methods=["GET"]),
        Route(
            "/jobs/{job_id}/policy-{number:int}.json",
            guarded(console.download),
            methods=["GET"],
        ),
        Route(
            "/jobs/{job_id}/policy.{suffix}",
            guarded(console.download_all),
            methods=["GET"],
        ),
        Route("/jobs/{job_id}/removes", guarded(console.removes), methods=["GET"]),
        Route("/jobs/{job_id}/cancel", guarded(console.cancel, post=True), methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        Route(
            "/{path:path}",
            guarded(console.not_found, sign_in=False),
            methods=ALL_METHODS,
        ),
    ]
    return [Route("/", home, methods=ALL_METHODS), Mount(PREFIX, routes=routes)]
