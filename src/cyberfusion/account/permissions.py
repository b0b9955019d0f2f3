"""Every permission, named `<scope>:<resource>:<action>`, and the roles that grant them."""

from __future__ import annotations

import enum


class Permission(enum.StrEnum):
    REGISTRY_ORGANISATION_READ = "registry:organisation:read"
    REGISTRY_ORGANISATION_MANAGE = "registry:organisation:manage"
    ACCOUNT_USER_MANAGE = "account:user:manage"
    ACCOUNT_APIKEY_MANAGE = "account:apikey:manage"
    INTEL_OBJECT_READ = "intel:object:read"
    INTEL_OBJECT_SUBMIT = "intel:object:submit"
    INTEL_OBJECT_RELABEL = "intel:object:relabel"
    INTEL_OBJECT_VALIDATE = "intel:object:validate"
    INTEL_SELECTOR_LOOKUP = "intel:selector:lookup"
    PRODUCT_REPORT_READ = "product:report:read"
    PRODUCT_REPORT_ISSUE = "product:report:issue"
    PRODUCT_REPORT_FEEDBACK = "product:report:feedback"
    OPERATION_OPERATION_MANAGE = "operation:operation:manage"
    NOTIFICATION_NOTIFICATION_READ = "notification:notification:read"
    AUDIT_LOG_READ = "audit:log:read"
    AUDIT_LOG_VERIFY = "audit:log:verify"
    PARTNER_AGREEMENT_READ = "partner:agreement:read"
    PARTNER_AGREEMENT_MANAGE = "partner:agreement:manage"


class Role(enum.StrEnum):
    ADMIN = "admin"
    HUB_ANALYST = "hub_analyst"
    DESK_OFFICER = "desk_officer"
    OFFICER = "officer"
    PARTNER_ANALYST = "partner_analyst"
    VIEWER = "viewer"


_READ = {
    Permission.REGISTRY_ORGANISATION_READ,
    Permission.INTEL_OBJECT_READ,
    Permission.PRODUCT_REPORT_READ,
    Permission.NOTIFICATION_NOTIFICATION_READ,
    Permission.ACCOUNT_APIKEY_MANAGE,
}
_CONTRIBUTE = _READ | {
    Permission.INTEL_OBJECT_SUBMIT,
    Permission.INTEL_OBJECT_RELABEL,
    Permission.INTEL_SELECTOR_LOOKUP,
    # Acknowledging a product and reporting outcomes: not for read-only viewers.
    Permission.PRODUCT_REPORT_FEEDBACK,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        _READ
        | {
            Permission.REGISTRY_ORGANISATION_MANAGE,
            Permission.ACCOUNT_USER_MANAGE,
            Permission.AUDIT_LOG_READ,
            Permission.AUDIT_LOG_VERIFY,
            Permission.PARTNER_AGREEMENT_READ,
            Permission.PARTNER_AGREEMENT_MANAGE,
        }
    ),
    Role.HUB_ANALYST: frozenset(
        _CONTRIBUTE | {Permission.INTEL_OBJECT_VALIDATE, Permission.PRODUCT_REPORT_ISSUE}
    ),
    Role.DESK_OFFICER: frozenset(_CONTRIBUTE | {Permission.OPERATION_OPERATION_MANAGE}),
    Role.OFFICER: frozenset(_CONTRIBUTE),
    Role.PARTNER_ANALYST: frozenset(_CONTRIBUTE),
    Role.VIEWER: frozenset(_READ - {Permission.ACCOUNT_APIKEY_MANAGE}),
}

# Roles that may sign in without a second factor: read-only demo accounts only.
ROLES_WITHOUT_TOTP = frozenset({Role.VIEWER})


def permissions_for(roles: list[str] | tuple[str, ...]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[Role(role)]
    return frozenset(granted)
