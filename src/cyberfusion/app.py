"""The ASGI application: REST API, web shell and health check in one process."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.middleware.sessions import SessionMiddleware

from cyberfusion import __version__
from cyberfusion.account import api as account_api
from cyberfusion.api import problems
from cyberfusion.api.deps import DbSession
from cyberfusion.audit import api as audit_api
from cyberfusion.core.config import get_settings
from cyberfusion.correlation import api as correlation_api
from cyberfusion.correlation import views as correlation_views
from cyberfusion.enrichment import views as enrichment_views
from cyberfusion.export import api as export_api
from cyberfusion.feed import api as feed_api
from cyberfusion.intake import api as intake_api
from cyberfusion.intel import api as intel_api
from cyberfusion.knowledge import api as knowledge_api
from cyberfusion.notification import api as notification_api
from cyberfusion.partner import api as partner_api
from cyberfusion.partner import views as partner_views
from cyberfusion.product import api as product_api
from cyberfusion.registry import api as registry_api
from cyberfusion.taxii import api as taxii_api
from cyberfusion.web import views as web_views

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)
# FastAPI's interactive docs page loads its assets from a CDN; we serve only the OpenAPI JSON
# and a self-hosted page is the UI issue's job.


@asynccontextmanager
async def _in_process_jobs(app: FastAPI) -> AsyncIterator[None]:
    """With CYBERFUSION_IN_PROCESS_JOBS=1 (what `cyberfusion serve` sets on SQLite unless told
    otherwise) the background jobs run in a thread of this process, so the embedded default
    needs no `cyberfusion worker`. The thread first loads the enrichment data, so that the
    first submission does not wait for it."""
    if os.environ.get("CYBERFUSION_IN_PROCESS_JOBS") != "1":
        yield
        return
    from cyberfusion.enrichment import service as enrichment_service
    from cyberfusion.worker import run_worker

    stop = threading.Event()

    def jobs() -> None:
        try:
            enrichment_service.warm_up()
        except Exception:
            log.exception("loading the enrichment data failed; it loads at first use")
        run_worker(once=False, stop=stop)

    thread = threading.Thread(target=jobs, name="cyberfusion-jobs", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        enrichment_service.shutdown_workers()


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="cyberfusion",
        version=__version__,
        lifespan=_in_process_jobs,
        description=(
            "Cyber threat intelligence fusion platform. Errors are RFC 9457 problem details."
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    problems.install(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="cyberfusion_session",
        max_age=12 * 3600,
        same_site="strict",
        https_only=settings.secure_cookies,
    )

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz(session: DbSession) -> dict[str, str]:
        session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    api = APIRouter(prefix="/api/v1")
    for module in (
        account_api,
        registry_api,
        intel_api,
        intake_api,
        correlation_api,
        knowledge_api,
        export_api,
        feed_api,
        notification_api,
        product_api,
        audit_api,
        partner_api,
    ):
        api.include_router(module.router)
    app.include_router(api)
    # TAXII 2.1 lives beside the REST API, with TAXII error messages instead of RFC 9457.
    taxii_api.install(app)
    app.include_router(web_views.router)
    app.include_router(partner_views.router)
    app.include_router(correlation_views.router)
    app.include_router(enrichment_views.router)
    app.mount(
        "/static",
        StaticFiles(directory=str(resources.files("cyberfusion.web").joinpath("static"))),
        name="static",
    )
    return app
