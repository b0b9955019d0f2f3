"""I/O shapes of feeds: set-up, runs, and the scopes of what we serve out."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cyberfusion.intake.csv_format import COLUMNS
from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}[a-z0-9]")


class FeedKind(enum.StrEnum):
    TAXII = "taxii"
    MISP = "misp"
    CSV = "csv"


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _values_only() -> dict[str, int | str | None]:
    return {"value": 0}


class CsvMapping(BaseModel):
    """Where each column of our CSV (docs/formats.md, "CSV") comes from in the source.

    `columns` maps our column names to a source column: its 0-based index, or its name in the
    source's header row (with `header`), or null (absent). `value` is required; with `value`
    alone (the default, `{"value": 0}`) the source is a list of values whose types are
    detected, otherwise each row becomes an indicator. `constants` fills columns the source
    lacks (e.g. `{"type": "domain", "threat_type": "c2"}`). `delimiter` null (the default)
    reads each line whole, as plain lists are; `#` lines and ` # ...` endings are comments."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, int | str | None] = Field(default_factory=_values_only)
    delimiter: str | None = Field(
        default=None, min_length=1, max_length=1, description="null: one column per line"
    )
    header: bool = Field(default=False, description="the first row names the columns")
    constants: dict[str, str] = Field(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, int | str | None]) -> dict[str, int | str | None]:
        for name, where in value.items():
            if name not in COLUMNS:
                raise ValueError(f"{name!r} is not one of our columns ({', '.join(COLUMNS)})")
            if isinstance(where, int) and where < 0:
                raise ValueError(f"{name}: column index {where} is negative (0 is the first)")
            if isinstance(where, str) and not where.strip():
                raise ValueError(f"{name}: an empty source column name")
        if value.get("value") is None:
            raise ValueError("`value` must name the source column that holds the values")
        return value

    @field_validator("constants")
    @classmethod
    def _constants(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name not in COLUMNS or name == "value":
                raise ValueError(
                    f"{name!r} cannot be a constant (one of "
                    f"{', '.join(c for c in COLUMNS if c != 'value')})"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CsvMapping:
        both = sorted(name for name in self.constants if self.columns.get(name) is not None)
        if both:
            raise ValueError(f"{', '.join(both)}: both a source column and a constant")
        if self.delimiter is None:
            beyond = sorted(
                name for name, where in self.columns.items() if isinstance(where, int) and where > 0
            )
            if beyond:
                raise ValueError(f"{', '.join(beyond)}: a column after the first needs a delimiter")
        named = sorted(name for name, where in self.columns.items() if isinstance(where, str))
        if named and not self.header:
            raise ValueError(f"{', '.join(named)}: a column named by its title needs header=true")
        return self

    @property
    def is_value_list(self) -> bool:
        """Values only: sent as a list, each value's type detected."""
        mapped = {name for name, where in self.columns.items() if where is not None}
        return mapped == {"value"} and not self.constants


class FeedAuth(BaseModel):
    """HTTP Basic (`username`, `password`; a cyberfusion TAXII server takes an API key as the
    password) or a bearer `token`. Stored, never shown again."""

    model_config = ConfigDict(extra="forbid")

    username: str | None = None
    password: str | None = None
    token: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> FeedAuth:
        basic = self.username is not None or self.password is not None
        if basic and self.token is not None:
            raise ValueError("give username and password, or a token, not both")
        if basic and not (self.username and self.password):
            raise ValueError("HTTP Basic needs both username and password")
        if not basic and not self.token:
            raise ValueError("give username and password, or a token")
        return self


class FeedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="unique; lower-case letters, digits, `.`, `-`, `_`")
    kind: FeedKind
    source: str = Field(
        min_length=1,
        max_length=2000,
        description="taxii: the collection URL; misp: the feed's base URL (where manifest.json "
        "is); csv: the list's URL. Trusted feeds may also name a local file or directory.",
    )
    labels: LabelsIn | None = Field(
        default=None, description="labels for what carries none; the owner's defaults if absent"
    )
    evaluation: EvaluationIn = Field(default_factory=EvaluationIn)
    csv: CsvMapping | None = Field(default=None, description="csv feeds: the column mapping")
    auth: FeedAuth | None = None
    interval_seconds: int = Field(default=3600, ge=60, le=30 * 86400)
    timeout_seconds: int = Field(default=60, ge=1, le=600)
    max_bytes: int | None = Field(
        default=None, ge=1, description="largest response read; default and cap: the server's"
    )
    enabled: bool = True
    added_after: datetime | None = Field(
        default=None, description="taxii: fetch only objects added after this time"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.fullmatch(value):
            raise ValueError(
                "must be 2 to 64 lower-case letters, digits, dots, hyphens or underscores, "
                "starting and ending with a letter or digit"
            )
        return value


class FeedUpdate(BaseModel):
    """Only the fields sent change; `auth: null` removes the credentials."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(default=None, min_length=1, max_length=2000)
    labels: LabelsIn | None = None
    evaluation: EvaluationIn | None = None
    csv: CsvMapping | None = None
    auth: FeedAuth | None = None
    interval_seconds: int | None = Field(default=None, ge=60, le=30 * 86400)
    timeout_seconds: int | None = Field(default=None, ge=1, le=600)
    max_bytes: int | None = Field(default=None, ge=1)
    enabled: bool | None = None


class FeedRunRead(BaseModel):
    id: int
    feed: str
    trigger: str = Field(description="schedule, cli or api")
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    accepted: int
    duplicates: int
    rejected: int
    submissions: list[int]
    problems: list[str] = Field(description="the first reasons objects were rejected")
    error: str | None = Field(description="why the run failed")


class FeedRead(BaseModel):
    id: int
    name: str
    kind: FeedKind
    source: str
    owner: str
    labels: LabelsIn | None
    evaluation: EvaluationIn
    csv: CsvMapping | None
    auth: str | None = Field(description="basic or token when credentials are stored")
    interval_seconds: int
    timeout_seconds: int
    max_bytes: int
    enabled: bool
    trusted: bool
    checkpoint: dict[str, Any] = Field(
        description="where the next run resumes (MISP: the number of events seen)"
    )
    next_run_at: datetime
    consecutive_failures: int
    running: bool
    last_run: FeedRunRead | None
    created_by: str
    created_at: datetime


class Tier(enum.StrEnum):
    """Who a served-out feed is for, narrowest first. A feed for a tier holds every value
    shared at least as widely as the tier: what any organisation of the tier may read."""

    ORG = "org"
    COUNTRY = "country"
    REGION = "region"
    MEMBERS = "members"
    COMMUNITY = "community"
    PUBLIC = "public"


class BlocklistKind(enum.StrEnum):
    IP = "ip"
    DOMAIN = "domain"
    URL = "url"
