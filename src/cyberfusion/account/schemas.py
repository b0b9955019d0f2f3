"""The authenticated subject (Actor) and the account I/O shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, EmailStr, Field

from cyberfusion.account.permissions import Permission, Role, permissions_for
from cyberfusion.core.errors import PermissionDenied


class OrganisationLike(Protocol):
    """What an Actor needs of an organisation (registry.models.Organisation has it)."""

    @property
    def id(self) -> int: ...
    @property
    def slug(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def country_code(self) -> str | None: ...
    @property
    def region_code(self) -> str | None: ...


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, a key holder, the local operator, or the public.

    The sharing filter reads only the organisation fields, so an Actor is all it needs.
    """

    user_id: int | None
    email: str | None
    org_id: int | None
    org_slug: str | None
    org_kind: str | None
    country_code: str | None
    region_code: str | None
    roles: tuple[str, ...] = ()
    permissions: frozenset[Permission] = field(default_factory=frozenset)
    via: str = "anonymous"

    @property
    def is_anonymous(self) -> bool:
        return self.org_id is None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(f"this action needs the permission {permission.value}")

    @property
    def label(self) -> str:
        return self.email or self.via

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(None, None, None, None, None, None, None)

    @classmethod
    def for_organisation(
        cls, org: OrganisationLike, *, roles: tuple[str, ...] = (), via: str = "system"
    ) -> Actor:
        """An organisation as a reader: what the sharing rules let it see, with the permissions
        of `roles` (none by default: enough to ask `readable_condition`, nothing else)."""
        return cls(
            user_id=None,
            email=None,
            org_id=org.id,
            org_slug=org.slug,
            org_kind=org.kind,
            country_code=org.country_code,
            region_code=org.region_code,
            roles=roles,
            permissions=permissions_for(roles) if roles else frozenset(),
            via=via,
        )

    @classmethod
    def operator(cls, name: str = "cli") -> Actor:
        """The local operator at the command line: administers, but belongs to no organisation."""
        return cls(
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            roles=(Role.ADMIN.value,),
            permissions=permissions_for([Role.ADMIN.value]),
            via=name,
        )


class UserCreate(BaseModel):
    email: EmailStr
    org_slug: str
    roles: list[Role] = Field(min_length=1)
    password: str
    display_name: str = ""


class MeRead(BaseModel):
    id: int
    email: str
    display_name: str
    organisation: str
    organisation_kind: str
    country: str | None
    region: str | None
    roles: list[str]
    permissions: list[str]
    authenticated_by: str


class ApiKeyCreated(BaseModel):
    id: int
    key: str
    prefix: str
    expires_at: datetime | None
