"""The `cyberfusion` command line: an adapter over the same services as the API."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from sqlalchemy.orm import Session

from cyberfusion.account import service as account_service
from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor, UserCreate
from cyberfusion.core.config import get_settings
from cyberfusion.core.db import transaction
from cyberfusion.core.errors import DomainError
from cyberfusion.core.time import utcnow
from cyberfusion.registry.models import OrgKind
from cyberfusion.registry.schemas import OrganisationCreate

app = typer.Typer(
    help="cyberfusion: cyber threat intelligence fusion platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations of the member registry.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(audit_app, name="audit")

out = Console()
err = Console(stderr=True)
OPERATOR = Actor.operator("cli")


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction per command; a domain error prints its reason, exits 2, stores nothing."""
    try:
        with transaction() as session:
            yield session
    except DomainError as exc:
        where = f" ({exc.field})" if exc.field else ""
        err.print(f"[red]error{where}:[/red] {exc.detail}", highlight=False)
        raise typer.Exit(2) from None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version."""
    from cyberfusion.core.migrate import upgrade

    upgrade(get_settings().database_url)
    out.print("database is at the latest schema version")


@db_app.command("check")
def db_check() -> None:
    """Check the references the derived tables keep without foreign keys: exit 0 when every
    flag, enrichment, jurisdiction, link and assessment refers to an existing observable (and
    country), 1 listing those that do not."""
    from cyberfusion.core.migrate import current
    from cyberfusion.observable import integrity

    if current(get_settings().database_url) is None:
        err.print("the database has no schema yet: run `cyberfusion db upgrade` first")
        raise typer.Exit(2)
    with unit_of_work() as session:
        broken = integrity.broken_references(session=session)
    if not broken:
        out.print("every derived row refers to an existing observable and country")
        return
    for reference in broken:
        err.print(
            f"[red]broken reference:[/red] {reference.describe()}", highlight=False, soft_wrap=True
        )
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    jobs: Annotated[
        str,
        typer.Option(
            help="background jobs: 'in-process' (a thread of this server), 'worker' (run "
            "`cyberfusion worker` beside it) or 'auto' (in-process on SQLite)"
        ),
    ] = "auto",
) -> None:
    """Serve the REST API, TAXII and the web UI (and, on the embedded default, the jobs)."""
    import uvicorn

    from cyberfusion.core.migrate import current

    if jobs not in ("auto", "in-process", "worker"):
        err.print("--jobs must be auto, in-process or worker")
        raise typer.Exit(2)
    settings = get_settings()
    if current(settings.database_url) is None:
        err.print("the database has no schema yet: run `cyberfusion db upgrade` first")
        raise typer.Exit(2)
    in_process = jobs == "in-process" or (
        jobs == "auto" and settings.database_url.startswith("sqlite")
    )
    # Read by the application's start-up in this process and in the ones uvicorn spawns.
    os.environ["CYBERFUSION_IN_PROCESS_JOBS"] = "1" if in_process else "0"
    uvicorn.run(
        "cyberfusion.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=True,
    )


@app.command()
def demo(
    activity: Annotated[
        bool,
        typer.Option(help="also submit the made-up demo activity (about 800 values)"),
    ] = True,
    url: Annotated[
        str, typer.Option(help="where the server will answer, for the sign-in line")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Load the demo world (idempotent) and print how to sign in."""
    from cyberfusion.demo import activity as demo_activity
    from cyberfusion.demo import service as demo_service

    with unit_of_work() as session:
        users = demo_service.load(session=session, actor=Actor.operator("demo"))
        from cyberfusion.registry import service as registry_service

        n_orgs = registry_service.count(session=session)
    n_values = 0
    if activity:
        with unit_of_work() as session:
            n_values = demo_activity.load_activity(session=session)
    import pyotp

    out.print(
        f"{n_orgs} organisations. Demo accounts, all with the password "
        f"{demo_service.DEMO_PASSWORD}:",
        highlight=False,
    )
    for user in users:
        if user.totp_secret:
            factor = (
                f"TOTP secret {user.totp_secret} (code now: "
                f"{pyotp.TOTP(user.totp_secret).now()}; `cyberfusion demo` prints fresh ones)"
            )
        else:
            factor = "no second factor (read-only)"
        out.print(f"  {user.email:48} {user.role:16} {factor}", highlight=False, soft_wrap=True)
    if activity:
        out.print(f"Demo activity: {n_values} made-up values from six organisations.")
    out.print(f"Sign in at {url.rstrip('/')}/login", highlight=False)


@org_app.command("add")
def org_add(
    slug: str,
    name: Annotated[str, typer.Option(help="display name")],
    kind: Annotated[OrgKind, typer.Option(help="kind of organisation")],
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2 code")] = None,
    region: Annotated[str | None, typer.Option(help="region code, for desks")] = None,
    operational: Annotated[bool, typer.Option(help="desk runs operations")] = False,
) -> None:
    """Add an organisation."""
    from pydantic import ValidationError

    from cyberfusion.registry import service as registry_service

    try:
        org_in = OrganisationCreate(
            slug=slug, name=name, kind=kind, country=country, region=region, operational=operational
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        err.print(f"[red]error ({first['loc'][0]}):[/red] {first['msg']}", highlight=False)
        raise typer.Exit(2) from None
    with unit_of_work() as session:
        org = registry_service.create(session=session, actor=OPERATOR, organisation_in=org_in)
        out.print(f"added {org.slug} ({org.kind}, {org.country_code or org.region_code or '-'})")


@org_app.command("list")
def org_list() -> None:
    """List organisations, one a line: slug, kind, country, name."""
    from cyberfusion.registry import service as registry_service

    with unit_of_work() as session:
        for org in registry_service.list_(session=session):
            typer.echo(f"{org.slug}\t{org.kind}\t{org.country_code or '-'}\t{org.name}")


@user_app.command("add")
def user_add(
    email: str,
    org: Annotated[str, typer.Option(help="organisation slug")],
    role: Annotated[list[Role], typer.Option(help="role; repeat for several")],
    password_stdin: Annotated[bool, typer.Option(help="read the password from stdin")] = False,
    name: Annotated[str, typer.Option(help="display name")] = "",
) -> None:
    """Add a user; prints the generated password (unless read from stdin) and the TOTP secret."""
    from pydantic import ValidationError

    generated = not password_stdin
    password = (
        account_service.generate_password() if generated else sys.stdin.readline().rstrip("\n")
    )
    try:
        user_in = UserCreate(
            email=email, org_slug=org, roles=role, password=password, display_name=name
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        err.print(f"[red]error ({first['loc'][0]}):[/red] {first['msg']}", highlight=False)
        raise typer.Exit(2) from None
    with unit_of_work() as session:
        user = account_service.create(session=session, actor=OPERATOR, user_in=user_in)
        out.print(f"added {user.email} to {org} as {', '.join(user.roles)}")
        if generated:
            out.print(f"password: {password}", highlight=False)
        uri = account_service.totp_uri(user)
        if uri:
            out.print(f"TOTP secret: {user.totp_secret}", highlight=False)
            out.print(f"TOTP URI: {uri}", highlight=False, soft_wrap=True)


@user_app.command("reset-totp")
def user_reset_totp(email: str) -> None:
    """Give a user a new TOTP seed (lost authenticator, or a changed platform secret key)."""
    with unit_of_work() as session:
        user = account_service.reset_totp(session=session, actor=OPERATOR, email=email)
        out.print(f"new second factor for {user.email}; the old one no longer works")
        out.print(f"TOTP secret: {user.totp_secret}", highlight=False)
        out.print(f"TOTP URI: {account_service.totp_uri(user)}", highlight=False, soft_wrap=True)


@apikey_app.command("create")
def apikey_create(
    email: str,
    name: Annotated[str, typer.Option(help="a name to tell keys apart")] = "",
    expires_days: Annotated[int | None, typer.Option(help="expire after this many days")] = None,
) -> None:
    """Create an API key for a user; the key alone is printed on the last line."""
    with unit_of_work() as session:
        user = account_service.get_by_email_or_raise(session=session, email=email)
        expires = utcnow() + timedelta(days=expires_days) if expires_days is not None else None
        row, key = account_service.create_api_key(
            session=session, actor=OPERATOR, user=user, name=name, expires_at=expires
        )
        err.print(
            f"API key {row.prefix}… for {user.email}"
            + (f", expires {expires:%Y-%m-%d}" if expires else "")
            + ". It is shown once:"
        )
    typer.echo(key)


@apikey_app.command("revoke")
def apikey_revoke(key: str) -> None:
    """Revoke an API key."""
    with unit_of_work() as session:
        row = account_service.revoke_api_key(session=session, actor=OPERATOR, key=key)
        out.print(f"revoked API key {row.prefix}…")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit hash chain: exit 0 when intact, 1 naming the first bad entry."""
    from cyberfusion.audit import service as audit_service

    with unit_of_work() as session:
        result = audit_service.verify(session=session)
    if result.ok:
        out.print(f"audit log intact: {result.entries} entries")
        return
    err.print(f"[red]audit log broken at entry {result.bad_seq}:[/red] {result.reason}")
    raise typer.Exit(1)


def _org_actor(session: Session, slug: str, role: Role = Role.OFFICER) -> Actor:
    """The local operator acting for one organisation (imports and exports on its behalf)."""
    from cyberfusion.registry import service as registry_service

    org = registry_service.get_by_slug_or_raise(session=session, slug=slug)
    return Actor.for_organisation(org, roles=(role.value,), via=f"cli:{org.slug}")


# Files from this size on get a progress bar (on a terminal); smaller ones a spinner.
PROGRESS_MIN_BYTES = 1 << 20


@contextmanager
def import_progress(console: Console) -> Iterator[Progress]:
    """A progress bar by bytes read, with rate and time left."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        yield progress


class ProgressFile(io.FileIO):
    """A file that moves a progress bar as it is read. Intake reads a file twice: once for its
    SHA-256 (idempotency), then to import it; the bar shows each pass."""

    def __init__(self, path: Path, progress: Progress) -> None:
        super().__init__(path, "rb")
        self._progress = progress
        self._name = path.name
        self._size = os.fstat(self.fileno()).st_size
        self._task = progress.add_task(f"checking {self._name}", total=self._size)
        self._importing = False

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self._progress.update(self._task, completed=self.tell())
        return data or b""

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        position = super().seek(offset, whence)
        if not self._importing and position == 0 and self._progress_done():
            # Back to the start after the checksum pass: the import pass begins.
            self._importing = True
            self._progress.update(self._task, description=f"importing {self._name}")
        self._progress.update(self._task, completed=position)
        return position

    def _progress_done(self) -> bool:
        return any(t.id == self._task and t.completed >= self._size for t in self._progress.tasks)


@app.command("import")
def import_(
    path: Annotated[str, typer.Argument(help="file to import, or - for standard input")],
    org: Annotated[str, typer.Option(help="owner organisation slug")],
    format: Annotated[str, typer.Option(help="auto, stix, misp, csv or text")] = "auto",  # noqa: A002
    tlp: Annotated[
        str | None, typer.Option(help="default TLP: clear, green, amber, amber+strict, red")
    ] = None,
    audience: Annotated[str | None, typer.Option(help="default audience")] = None,
    recipients: Annotated[
        str | None, typer.Option(help="comma-separated slugs, for audience organisations")
    ] = None,
    partial: Annotated[
        bool, typer.Option(help="store valid objects even if others are rejected")
    ] = False,
    correlate: Annotated[
        bool,
        typer.Option(
            help="correlate a large list right after storing it (--no-correlate: leave it to "
            "the worker)"
        ),
    ] = True,
) -> None:
    """Import a file: STIX 2.x bundle, MISP event, CSV or free text."""
    from pathlib import Path

    from pydantic import ValidationError

    from cyberfusion.intake import service as intake_service
    from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
    from cyberfusion.sharing.schemas import LabelsIn

    source = None if path == "-" else Path(path)
    raw = sys.stdin.buffer.read() if source is None else b""
    try:
        labels = None
        if tlp or audience or recipients:
            labels = LabelsIn.model_validate(
                {
                    "tlp": tlp or "amber",
                    "audience": audience or "organisation",
                    "recipients": [r for r in (recipients or "").split(",") if r],
                }
            )
        options = SubmissionOptions(
            source_format=SourceFormat(format), labels=labels, partial=partial
        )
    except (ValidationError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    size = len(raw) if source is None else source.stat().st_size
    if source is None or size < PROGRESS_MIN_BYTES or not err.is_terminal:
        with unit_of_work() as session, err.status(f"importing {size:,} bytes"):
            actor = _org_actor(session, org)
            if source is None:
                result = intake_service.submit(
                    session=session, actor=actor, raw=raw, options=options
                )
            else:
                # Read block by block: a value list of any size stays small in memory.
                result = intake_service.submit_file(
                    session=session, actor=actor, source=source, options=options
                )
    else:
        with (
            unit_of_work() as session,
            import_progress(err) as progress,
            ProgressFile(source, progress) as handle,
        ):
            actor = _org_actor(session, org)
            result = intake_service.submit_file(
                session=session, actor=actor, source=handle, options=options, name=source.name
            )
    for item in result.results:
        if item.status == "rejected":
            where = ", ".join(x for x in (item.source, item.id or "", item.property or "") if x)
            err.print(f"rejected ({where}): {item.reason}", highlight=False, soft_wrap=True)
    out.print(
        f"submission {result.id} ({result.source_format}): {result.status}; "
        f"{result.accepted} accepted, {result.duplicates} duplicates, {result.rejected} rejected"
        + (" (same content as before: nothing changed)" if result.replayed else ""),
        highlight=False,
    )
    if result.status == "rejected":
        raise typer.Exit(1)
    if result.correlation == "pending" and correlate:
        from cyberfusion.correlation import jobs as correlation_jobs

        # A large list is stored at bulk speed; correlate it now rather than leave it to a
        # worker the operator may not run.
        with err.status(f"correlating submission {result.id}"):
            correlation_jobs.run_pending(unit_of_work=unit_of_work)
        with unit_of_work() as session:
            from cyberfusion.intake.models import Submission

            state = session.get(Submission, result.id)
            done = state.correlation if state is not None else "unknown"
        out.print(f"submission {result.id} correlation: {done}", highlight=False)


@app.command()
def extract(
    path: Annotated[str, typer.Argument(help="text file, or - for standard input")] = "-",
) -> None:
    """Print the observables found in free text, one JSON object a line; stores nothing."""
    from pathlib import Path

    import orjson

    from cyberfusion.observable.extract import extract as extract_observables

    text = (
        sys.stdin.read()
        if path == "-"
        else Path(path).read_text(encoding="utf-8", errors="replace")
    )
    for found in extract_observables(text):
        sys.stdout.write(
            orjson.dumps(
                {
                    "type": found.obs_type.value,
                    "value": found.value,
                    "raw": found.raw,
                    "start": found.start,
                }
            ).decode()
            + "\n"
        )


@app.command()
def validate(
    record: Annotated[int | None, typer.Argument(help="record id")] = None,
    submission: Annotated[int | None, typer.Option(help="every record of this submission")] = None,
    as_: Annotated[str, typer.Option("--as", help="analyst organisation slug")] = "hub",
    decision: Annotated[str, typer.Option(help="validated or rejected")] = "validated",
    reason: Annotated[str, typer.Option(help="why, for the audit log")] = "",
) -> None:
    """Validate or reject a record, or all records of a submission, as a fusion-centre analyst."""
    from cyberfusion.intel import service as intel_service

    if (record is None) == (submission is None):
        err.print("[red]error:[/red] give a record id or --submission, not both")
        raise typer.Exit(2)
    with unit_of_work() as session:
        actor = _org_actor(session, as_, Role.HUB_ANALYST)
        if record is not None:
            intel_service.validate(
                session=session, actor=actor, record_id=record, decision=decision, reason=reason
            )
            out.print(f"record {record}: {decision}")
        else:
            assert submission is not None
            changed = intel_service.validate_submission(
                session=session,
                actor=actor,
                submission_id=submission,
                decision=decision,
                reason=reason,
            )
            out.print(f"submission {submission}: {changed} records {decision}")


@app.command("export")
def export_(
    as_: Annotated[str, typer.Option("--as", help="organisation slug: export what it may read")],
    format: Annotated[str, typer.Option(help="stix, misp or csv")] = "stix",  # noqa: A002
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", help="STIX type (CSV, MISP: also observable type); repeatable"),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="records stored after this date or time (UTC)")
    ] = None,
    tlp: Annotated[list[str] | None, typer.Option(help="current TLP; repeatable")] = None,
    status: Annotated[str, typer.Option(help="validated, unvalidated or any")] = "any",
    limit: Annotated[int | None, typer.Option(help="at most this many objects or rows")] = None,
    all_versions: Annotated[
        bool, typer.Option(help="every version, not only the latest of each object")
    ] = False,
    out_path: Annotated[
        str | None, typer.Option("--out", help="write to this file, not standard output")
    ] = None,
) -> None:
    """Export what an organisation may read as a STIX 2.1 bundle, a MISP event or CSV."""
    from pathlib import Path

    from cyberfusion.export import service as export_service

    options = {"types": "--type", "added_after": "--since", "tlp": "--tlp"}
    try:
        export_format = export_service.ExportFormat(format)
        filters = export_service.parse_filters(
            {
                "types": type_ or [],
                "added_after": since,
                "tlp": tlp or [],
                "status": status,
                "limit": limit,
                "all_versions": all_versions,
            }
        )
    except ValueError:
        err.print(f"[red]error (--format):[/red] {format!r} is not stix, misp or csv")
        raise typer.Exit(2) from None
    except DomainError as exc:
        where = options.get(exc.field or "", f"--{(exc.field or '').replace('_', '-')}")
        err.print(f"[red]error ({where}):[/red] {exc.detail}", highlight=False)
        raise typer.Exit(2) from None
    target = Path(out_path) if out_path else None
    # Written beside the target and renamed at the end: a failed export leaves no partial file.
    partial = target.with_name(target.name + ".part") if target else None
    written = 0
    with unit_of_work() as session:
        actor = _org_actor(session, as_)
        chunks = export_service.export(
            session=session, actor=actor, export_format=export_format, filters=filters
        )
        sink = partial.open("wb") if partial else sys.stdout.buffer
        try:
            for chunk in chunks:
                sink.write(chunk)
                written += len(chunk)
        except BaseException:
            if partial:
                sink.close()
                partial.unlink(missing_ok=True)
            raise
        if partial:
            sink.close()
        else:
            sink.flush()
    if target and partial:
        partial.replace(target)
        err.print(f"wrote {written:,} bytes to {target}", highlight=False, soft_wrap=True)


rule_app = typer.Typer(
    help="Validation rules: whose records enter validated.", no_args_is_help=True
)
app.add_typer(rule_app, name="rule")


@rule_app.command("add")
def rule_add(
    org: Annotated[str, typer.Option(help="organisation whose records the rule covers")],
    min_confidence: Annotated[int, typer.Option(help="lowest confidence validated (0-100)")],
    as_: Annotated[str, typer.Option("--as", help="analyst organisation slug")] = "hub",
) -> None:
    """Add a rule, e.g. `rule add --org partner-x --min-confidence 80`."""
    from cyberfusion.intel import service as intel_service

    with unit_of_work() as session:
        actor = _org_actor(session, as_, Role.HUB_ANALYST)
        rule = intel_service.add_rule(
            session=session, actor=actor, org_slug=org, min_confidence=min_confidence
        )
        out.print(
            f"rule {rule.id}: records of {org} with confidence >= {min_confidence} enter validated"
        )


@rule_app.command("apply")
def rule_apply(
    as_: Annotated[str, typer.Option("--as", help="analyst organisation slug")] = "hub",
) -> None:
    """Validate the waiting records the rules now cover."""
    from cyberfusion.intel import service as intel_service

    with unit_of_work() as session:
        changed = intel_service.apply_rules(
            session=session, actor=_org_actor(session, as_, Role.HUB_ANALYST)
        )
        out.print(f"{changed} records validated by rules")


@org_app.command("defaults")
def org_defaults(
    slug: str,
    tlp: Annotated[str, typer.Option(help="clear, green, amber or amber+strict")],
    audience: Annotated[str, typer.Option(help="organisation, country, region, members, ...")],
) -> None:
    """Set the labels an organisation's submissions get when nothing else says."""
    from cyberfusion.registry import service as registry_service

    with unit_of_work() as session:
        org = registry_service.set_default_labels(
            session=session, actor=OPERATOR, slug=slug, tlp=tlp, audience=audience
        )
        out.print(
            f"{org.slug}: default TLP:{org.default_tlp.upper()}, audience {org.default_audience}"
        )


knowledge_app = typer.Typer(
    help="Reference knowledge: MISP galaxies and their aliases.", no_args_is_help=True
)
app.add_typer(knowledge_app, name="knowledge")


@knowledge_app.command("load")
def knowledge_load(
    galaxy: Annotated[
        list[str] | None,
        typer.Option(help="a galaxy to load (repeatable); default: the usual threat galaxies"),
    ] = None,
) -> None:
    """Load the MISP galaxies shipped with pymispgalaxies as TLP:CLEAR knowledge of the hub."""
    import time

    from cyberfusion.knowledge import service as knowledge_service

    started = time.perf_counter()
    with unit_of_work() as session, err.status("loading MISP galaxies"):
        actor = _org_actor(session, knowledge_service.HUB_SLUG, Role.HUB_ANALYST)
        report = knowledge_service.load_galaxies(
            session=session, actor=actor, galaxies=galaxy or None
        )
    for problem in report.problems:
        err.print(
            f"skipped ({problem.galaxy} {problem.cluster}, {problem.field}): {problem.reason}",
            highlight=False,
            soft_wrap=True,
        )
    out.print(
        f"{len(report.galaxies)} galaxies, {report.clusters} clusters: entries "
        f"{report.entries_created} new, {report.entries_updated} updated, "
        f"{report.entries_removed} removed; STIX objects {report.objects_new} new, "
        f"{report.objects_changed} changed, {report.objects_unchanged} unchanged; "
        f"{report.ambiguous_keys} names shared by several families "
        f"({time.perf_counter() - started:.1f} s)",
        highlight=False,
    )


@knowledge_app.command("resolve")
def knowledge_resolve(
    name: str,
    kind: Annotated[
        str | None, typer.Option(help="malware, threat-actor, tool or attack-pattern")
    ] = None,
) -> None:
    """Print the family a name belongs to, with its STIX id and aliases."""
    from cyberfusion.knowledge import service as knowledge_service

    with unit_of_work() as session:
        found = knowledge_service.lookup(session=session, name=name, kind=kind)
        if found.entry is None:
            if found.candidates:
                err.print(f"{name!r} names several families:", highlight=False)
                for candidate in found.candidates:
                    err.print(
                        f"  {candidate.kind:14} {candidate.name} ({candidate.galaxy}) "
                        f"{candidate.stix_id}",
                        highlight=False,
                    )
            else:
                err.print(f"{name!r} is not in the reference knowledge", highlight=False)
            raise typer.Exit(1)
        read = knowledge_service.to_read(session=session, entry=found.entry)
    out.print(f"{read.kind} {read.name} ({read.galaxy}) {read.stix_id}", highlight=False)
    if read.aliases:
        out.print("aliases: " + ", ".join(read.aliases), highlight=False, soft_wrap=True)


feed_app = typer.Typer(
    help="Feeds in: TAXII collections, MISP feeds and CSV lists, fetched on a schedule.",
    no_args_is_help=True,
)
app.add_typer(feed_app, name="feed")


def _json_option(text: str | None, option: str) -> object:
    import orjson

    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        err.print(f"[red]error ({option}):[/red] not valid JSON: {exc}", highlight=False)
        raise typer.Exit(2) from None


@feed_app.command("add")
def feed_add(
    name: str,
    kind: Annotated[str, typer.Option(help="taxii, misp or csv")],
    source: Annotated[
        str,
        typer.Option(help="taxii: collection URL; misp: base URL or directory; csv: URL or file"),
    ],
    org: Annotated[str, typer.Option(help="owner organisation slug")],
    interval: Annotated[int, typer.Option(help="seconds between runs (at least 60)")] = 3600,
    tlp: Annotated[str | None, typer.Option(help="labels for what carries none: TLP")] = None,
    audience: Annotated[str | None, typer.Option(help="... and audience")] = None,
    columns: Annotated[
        str | None,
        typer.Option(help='csv: JSON, our column -> source column, e.g. {"value": 0, "type": 2}'),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="csv: the column separator (default: whole lines)")
    ] = None,
    header: Annotated[bool, typer.Option(help="csv: the first row names the columns")] = False,
    constants: Annotated[
        str | None, typer.Option(help='csv: JSON of fixed columns, e.g. {"threat_type": "c2"}')
    ] = None,
    username: Annotated[str | None, typer.Option(help="HTTP Basic user name")] = None,
    password: Annotated[
        str | None,
        typer.Option(envvar="CYBERFUSION_FEED_PASSWORD", help="HTTP Basic password (or API key)"),
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="CYBERFUSION_FEED_TOKEN", help="bearer token")
    ] = None,
    added_after: Annotated[
        str | None, typer.Option(help="taxii: start from objects added after this time")
    ] = None,
    enabled: Annotated[bool, typer.Option(help="run on schedule")] = True,
) -> None:
    """Set up a feed run on schedule by `cyberfusion worker`. Set up here, it may read local
    files and directories and reach private addresses (the API's may not)."""
    from pydantic import ValidationError

    from cyberfusion.feed import service as feed_service
    from cyberfusion.feed.schemas import FeedCreate

    data: dict[str, object] = {
        "name": name,
        "kind": kind,
        "source": source,
        "interval_seconds": interval,
        "enabled": enabled,
    }
    if tlp or audience:
        data["labels"] = {"tlp": tlp or "amber", "audience": audience or "organisation"}
    if kind == "csv" and (columns or delimiter or header or constants):
        mapping: dict[str, object] = {"header": header}
        if columns is not None:
            mapping["columns"] = _json_option(columns, "--columns")
        if delimiter is not None:
            mapping["delimiter"] = "\t" if delimiter in ("\\t", "tab") else delimiter
        if constants is not None:
            mapping["constants"] = _json_option(constants, "--constants")
        data["csv"] = mapping
    if username or password or token:
        data["auth"] = {"username": username, "password": password, "token": token}
    if added_after is not None:
        data["added_after"] = added_after
    try:
        feed_in = FeedCreate.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "feed"
        err.print(f"[red]error ({where}):[/red] {first['msg']}", highlight=False)
        raise typer.Exit(2) from None
    with unit_of_work() as session:
        feed = feed_service.create(
            session=session, actor=_org_actor(session, org), feed_in=feed_in, trusted=True
        )
        out.print(
            f"feed {feed.name} ({feed.kind}) for {org}: every {feed.interval_seconds} s, "
            "first run at the worker's next pass",
            highlight=False,
        )


@feed_app.command("list")
def feed_list() -> None:
    """List feeds, one a line: name, kind, owner, enabled, next run (UTC), last run, counts."""
    from cyberfusion.feed import service as feed_service

    with unit_of_work() as session:
        for feed in feed_service.list_all(session=session):
            read = feed_service.to_read(session=session, feed=feed)
            last = read.last_run
            summary = (
                "never run"
                if last is None
                else f"{last.status.value} {last.started_at:%Y-%m-%dT%H:%M:%SZ}\t"
                f"{last.accepted} new, {last.duplicates} duplicates, {last.rejected} rejected"
            )
            typer.echo(
                f"{read.name}\t{read.kind.value}\t{read.owner}\t"
                f"{'enabled' if read.enabled else 'disabled'}\t"
                f"{read.next_run_at:%Y-%m-%dT%H:%M:%SZ}\t{summary}"
            )


@feed_app.command("run")
def feed_run(name: str) -> None:
    """Run a feed once now, whatever its schedule; exit 1 if the run fails."""
    import os
    import uuid

    from cyberfusion.feed import service as feed_service

    with unit_of_work() as session, err.status(f"running feed {name}"):
        feed = feed_service.get_by_name_or_raise(session=session, name=name)
        feed_run = feed_service.run(
            session=session,
            feed=feed,
            trigger="cli",
            worker=f"cli:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        )
        status, error = feed_run.status, feed_run.error
        counts = (feed_run.accepted, feed_run.duplicates, feed_run.rejected)
        problems = list(feed_run.details.get("problems", []))
        submissions = list(feed_run.details.get("submissions", []))
    for problem in problems:
        err.print(f"rejected: {problem}", highlight=False, soft_wrap=True)
    out.print(
        f"feed {name}: {status}; {counts[0]} accepted, {counts[1]} duplicates, "
        f"{counts[2]} rejected; submissions {', '.join(map(str, submissions)) or 'none'}",
        highlight=False,
    )
    if error:
        err.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="one pass over the due feeds, then exit")] = False,
    poll: Annotated[float, typer.Option(help="seconds between passes")] = 30.0,
) -> None:
    """Run background jobs: the feeds that are due, again and again (until SIGTERM or Ctrl-C)."""
    import logging
    import signal
    import threading

    from cyberfusion.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    if not once:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        # The enrichment data, and the processes that work out large batches, before the first
        # job rather than in it.
        from cyberfusion.enrichment import service as enrichment_service

        enrichment_service.warm_up()
    try:
        runs = run_worker(once=once, poll_seconds=poll, unit_of_work=transaction, stop=stop)
    except KeyboardInterrupt:
        err.print("stopped")
        return
    out.print(f"{runs} feed runs", highlight=False)


report_app = typer.Typer(
    help="Intelligence products (Cyber Activity Reports, threat assessments), issued as the hub.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


def _report_time(text: str | None, option: str) -> datetime | None:
    """A date (midnight UTC) or an ISO 8601 time (UTC unless it says otherwise)."""
    from datetime import UTC, date

    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        err.print(
            f"[red]error ({option}):[/red] {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time",
            highlight=False,
        )
        raise typer.Exit(2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@report_app.command("car")
def report_car(
    country: Annotated[
        str | None, typer.Argument(help="ISO 3166-1 alpha-2 code of the member country")
    ] = None,
    since: Annotated[str, typer.Option(help="start of the period: YYYY-MM-DD or ISO time")] = "",
    until: Annotated[
        str | None, typer.Option(help="end of the period, excluded (default: now)")
    ] = None,
    format: Annotated[  # noqa: A002
        str, typer.Option(help="html, pdf, stix or csv")
    ] = "html",
    out_path: Annotated[
        str,
        typer.Option("--out", help="file to write; with --all, the directory for all the files"),
    ] = "",
    all_: Annotated[bool, typer.Option("--all", help="every member country")] = False,
    asn: Annotated[
        int | None, typer.Option("--asn", help="an autonomous system's report (needs --to)")
    ] = None,
    network: Annotated[
        str | None,
        typer.Option("--network", help="a CIDR range's report, IPv4 or IPv6 (needs --to)"),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="slug of the recipient organisation of an --asn/--network report"
        ),
    ] = None,
    as_: Annotated[str, typer.Option("--as", help="the issuing (hub) organisation")] = "hub",
) -> None:
    """Issue the Cyber Activity Report of a country (or --all), an autonomous system (--asn N
    --to SLUG) or a network (--network CIDR --to SLUG) for a period and write it. When
    there is nothing to report, nothing is written (exit 0). Issuing registers the product with
    its content hash, audits it and delivers it to the NCB's inbox; with no new indicator since
    the last product from the same start, nothing is issued (the registered product is written
    again)."""
    from pathlib import Path

    from pydantic import ValidationError

    from cyberfusion.product import render
    from cyberfusion.product import service as product_service
    from cyberfusion.product.schemas import CarIssue, ProductFormat

    if not since or not out_path:
        err.print("[red]error:[/red] --since and --out are required", highlight=False)
        raise typer.Exit(2)
    scopes = sum(
        given for given in (country is not None, all_, asn is not None, network is not None)
    )
    if scopes != 1:
        err.print(
            "[red]error:[/red] give a country code or --all, --asn N or --network CIDR: one",
            highlight=False,
        )
        raise typer.Exit(2)
    try:
        fmt = ProductFormat(format)
    except ValueError:
        err.print(
            f"[red]error (--format):[/red] {format!r} is not one of html, pdf, stix, csv",
            highlight=False,
        )
        raise typer.Exit(2) from None
    if not all_ and not Path(out_path).resolve().parent.is_dir():
        err.print(
            f"[red]error (--out):[/red] the directory of {out_path} does not exist",
            highlight=False,
        )
        raise typer.Exit(2)
    start = _report_time(since, "--since")
    end = _report_time(until, "--until") or utcnow()
    assert start is not None
    if end <= start:
        err.print("[red]error (--until):[/red] the period ends before it starts", highlight=False)
        raise typer.Exit(2)
    written: list[tuple[str, render.Rendered]] = []
    with unit_of_work() as session:
        actor = _org_actor(session, as_, Role.HUB_ANALYST)
        if all_:
            with err.status("issuing the Cyber Activity Reports of every member country"):
                results = product_service.issue_all_cars(
                    session=session, actor=actor, since=start, until=end
                )
        else:
            try:
                car_in = CarIssue(
                    country=country, asn=asn, network=network, to=to, since=start, until=end
                )
            except ValidationError as error:
                problem = error.errors()[0]
                where = ".".join(str(part) for part in problem["loc"])
                err.print(
                    f"[red]error{f' ({where})' if where else ''}:[/red] "
                    f"{problem['msg'].removeprefix('Value error, ')}",
                    highlight=False,
                )
                raise typer.Exit(2) from None
            results = [
                (
                    car_in.scope[1],
                    product_service.issue_car(session=session, actor=actor, car_in=car_in),
                )
            ]
        issued = 0
        for code, result in results:
            if result.product is None:
                if not all_:
                    out.print(f"{code}: {result.detail}; nothing written", highlight=False)
                continue
            issued += result.issued
            out.print(
                f"{code}: {result.detail}: {result.product.item_count} indicators, "
                f"TLP:{result.product.tlp.upper()}, sha256 {result.product.content_hash}",
                highlight=False,
            )
            written.append((code, render.render(session=session, product=result.product, fmt=fmt)))
    if all_:
        directory = Path(out_path)
        directory.mkdir(parents=True, exist_ok=True)
        for _, rendered in written:
            (directory / rendered.filename).write_bytes(rendered.content)
        out.print(
            f"{len(written)} reports ({issued} newly issued) of {len(results)} countries "
            f"written to {directory}; the others had nothing to report",
            highlight=False,
        )
    elif written:
        Path(out_path).write_bytes(written[0][1].content)
        out.print(f"wrote {out_path}", highlight=False)


@report_app.command("assessment")
def report_assessment(
    country: Annotated[
        str | None, typer.Option("--country", help="ISO 3166-1 alpha-2 code of a member country")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="a desk's region: africa, americas, ...")
    ] = None,
    global_: Annotated[bool, typer.Option("--global", help="every country (the default)")] = False,
    since: Annotated[str, typer.Option(help="start of the period: YYYY-MM-DD or ISO time")] = "",
    until: Annotated[
        str | None, typer.Option(help="end of the period, excluded (default: now)")
    ] = None,
    format: Annotated[str, typer.Option(help="html or pdf")] = "html",  # noqa: A002
    out_path: Annotated[str, typer.Option("--out", help="file to write")] = "",
    audience: Annotated[
        str,
        typer.Option(help="hub (exact figures) or members or community (small cells suppressed)"),
    ] = "hub",
    tlp: Annotated[
        str | None, typer.Option(help="TLP of an assessment beyond the hub (default amber)")
    ] = None,
    as_: Annotated[str, typer.Option("--as", help="the issuing (hub) organisation")] = "hub",
) -> None:
    """Issue a threat assessment (global, --region or --country) for a period and write it as
    HTML or PDF. It is registered with its content hash and the trace of every figure, and
    audited."""
    from cyberfusion.product import assessment as assessment_service
    from cyberfusion.product import assessment_render
    from cyberfusion.product.schemas import AssessmentIssue, ProductFormat

    if not since or not out_path:
        err.print("[red]error:[/red] --since and --out are required", highlight=False)
        raise typer.Exit(2)
    if sum((country is not None, region is not None, global_)) > 1:
        err.print("[red]error:[/red] give one of --country, --region, --global", highlight=False)
        raise typer.Exit(2)
    if format not in ("html", "pdf") or audience not in ("hub", "members", "community"):
        err.print(
            "[red]error:[/red] --format is html or pdf; --audience hub, members or community",
            highlight=False,
        )
        raise typer.Exit(2)
    if not Path(out_path).resolve().parent.is_dir():
        err.print(
            f"[red]error (--out):[/red] the directory of {out_path} does not exist",
            highlight=False,
        )
        raise typer.Exit(2)
    start = _report_time(since, "--since")
    end = _report_time(until, "--until") or utcnow()
    scope = "country" if country else "region" if region else "global"
    try:
        assessment_in = AssessmentIssue.model_validate(
            {
                "scope": scope,
                "country": country,
                "region": region,
                "since": start,
                "until": end,
                "audience": audience,
                "tlp": tlp,
            }
        )
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    with unit_of_work() as session:
        actor = _org_actor(session, as_, Role.HUB_ANALYST)
        product = assessment_service.issue_assessment(
            session=session, actor=actor, assessment_in=assessment_in
        )
        rendered = assessment_render.render(
            product=product, fmt=ProductFormat(format), with_traces=True
        )
        out.print(
            f"issued assessment {product.id} version {product.version}: "
            f"{product.document['summary']['records']} records, TLP:{product.tlp.upper()}, "
            f"sha256 {product.content_hash}",
            highlight=False,
        )
    Path(out_path).write_bytes(rendered.content)
    out.print(f"wrote {out_path}", highlight=False)
