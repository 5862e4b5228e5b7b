"""Who may do what: the roles (creator, reviewer, admin), what each permits, and the actor a call is made for.

The service layer checks these rules itself (`require`), so the app and the command line cannot disagree. The
app passes the signed-in identity; the CLI, the worker and tests act as the local operator, who holds every
role. In a team deployment roles come from configuration: listed e-mails, or an ID-token claim.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from studio.errors import ConfigurationError, InvalidInput, StudioError
from studio.inputs.text_and_numbers import check_text

Role = Literal["creator", "reviewer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
Channel = Literal["page", "cli", "api"]
"""How a call arrived: a page of the app, the command line (or the worker), or the HTTP API with a key."""
Permission = Literal["create", "review", "export", "costs", "doctor", "operate"]

GRANTED_TO: dict[Permission, tuple[Role, ...]] = {
    "create": ("creator",),
    "review": ("reviewer",),
    "export": ("creator", "reviewer"),
    "costs": ("admin",),
    "doctor": ("admin",),
    "operate": ("admin",),
}
"""create: plans, characters, generation and every other paid call; review: approve or reject; export: the
review board and its manifest; costs: the ledger; doctor: backends, keys and health checks; operate: delete
what retention expires."""
DOING: dict[Permission, str] = {
    "create": "generate or spend",
    "review": "approve or reject references",
    "export": "open the review board or export",
    "costs": "see costs",
    "doctor": "see backends, keys and the doctor",
    "operate": "delete expired references and images",
}
PAGE_PERMISSIONS: dict[str, Permission] = {
    "characters": "create",
    "plan": "create",
    "generate": "create",
    "review": "export",
    "costs": "costs",
}
"""What each page (by its URL path) asks of the actor's roles (Home asks for any role): the pages and the
service layer read their rules from this one module."""
MAX_AUDIT_CHARS = 80
"""The longest name or e-mail the audit trail records (its column's width)."""
ROLES_ENVIRONMENT = "STUDIO_ROLES_"


class Actor(BaseModel):
    """Whoever a call is made for: a signed-in identity, or the local operator (`local`) at this machine."""

    model_config = ConfigDict(frozen=True)

    name: str
    email: str | None = None
    roles: frozenset[Role]
    local: bool = False
    channel: Channel = "cli"

    @property
    def who(self) -> str:
        """What the audit trail records: the e-mail of a signed-in identity, the local operator's name."""
        return self.email or self.name

    @property
    def label(self) -> str:
        return f"{self.name} ({self.email})" if self.email and self.email != self.name else self.name

    @property
    def role_names(self) -> str:
        return ", ".join(role for role in ROLES if role in self.roles) or "no role"

    def may(self, permission: Permission) -> bool:
        return any(role in self.roles for role in GRANTED_TO[permission])


class AccessDenied(StudioError):
    """An actor asked for something their roles do not permit; nothing was done."""

    def __init__(self, actor: Actor, permission: Permission) -> None:
        holders = " or ".join(f"{role}s" for role in GRANTED_TO[permission])
        super().__init__(f"{actor.who} ({actor.role_names}) may not {DOING[permission]}: only {holders} may")
        self.actor = actor
        self.permission = permission


def local_operator(name: str | None = None, field: str = "reviewer", channel: Channel = "cli") -> Actor:
    """The person at this machine (the CLI's `--reviewer NAME`, default $USER): every role."""
    chosen = " ".join((name if name is not None else os.environ.get("USER") or "anonymous").split())
    if not chosen:
        raise InvalidInput(field, "must not be empty")
    return Actor(
        name=check_text(field, chosen, MAX_AUDIT_CHARS), roles=frozenset(ROLES), local=True, channel=channel
    )


def require(actor: Actor | None, permission: Permission) -> Actor:
    """The actor (the local operator when none is named), when their roles permit `permission`."""
    acting = actor if actor is not None else local_operator()
    if not acting.may(permission):
        raise AccessDenied(acting, permission)
    return acting


def _entries(value: Any, field: str) -> tuple[str, ...]:
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise ValueError(f"{field}: must be a list of e-mails")
    return tuple(str(item).strip().lower() for item in items if str(item).strip())


class RoleRules(BaseModel):
    """Who holds which role in a team: e-mails (`*@example.com` for a whole domain) and/or an ID-token claim
    whose values name roles (`claim = "roles"`: a token with `"roles": ["reviewer"]` makes a reviewer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    creator: tuple[str, ...] = ()
    reviewer: tuple[str, ...] = ()
    admin: tuple[str, ...] = ()
    claim: str | None = None

    @field_validator("creator", "reviewer", "admin", mode="before")
    @classmethod
    def _emails(cls, value: Any) -> tuple[str, ...]:
        entries = _entries(value, "e-mails")
        for entry in entries:
            local, at, domain = entry.partition("@")
            if not at or not domain or "." not in domain or (not local) or ("*" in local and local != "*"):
                raise ValueError(f"{entry!r} is not an e-mail or *@domain")
        return entries

    @property
    def configured(self) -> bool:
        return bool(self.creator or self.reviewer or self.admin or self.claim)

    def roles_of(self, identity: Mapping[str, Any]) -> frozenset[Role]:
        """The roles of a signed-in identity (its ID-token claims); e-mails count only when verified or
        when the provider says nothing about verification."""
        roles: set[Role] = set()
        email = str(identity.get("email") or "").lower()
        verified = str(identity.get("email_verified", True)).lower() not in ("false", "0")
        if email and verified:
            domain = "*@" + email.partition("@")[2]
            listed = {role: getattr(self, role) for role in ROLES}
            roles.update(role for role, entries in listed.items() if email in entries or domain in entries)
        if self.claim:
            value = identity.get(self.claim)
            named = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            roles.update(role for role in ROLES if role in {str(v).strip().lower() for v in named})
        return frozenset(roles)


def role_rules(table: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> RoleRules:
    """The roles table of secrets.toml (`[studio.roles]`), each key overridden by STUDIO_ROLES_<KEY>."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = dict(table or {})
    for key in (*ROLES, "claim"):
        name = ROLES_ENVIRONMENT + key.upper()
        if name in environ:
            values[key] = environ[name]
    try:
        return RoleRules.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'][:1]) or 'roles'}: "
            + ("unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, "))
            for e in error.errors()
        )
        raise ConfigurationError(f"[studio.roles] (or {ROLES_ENVIRONMENT}*): {problems}") from None


def signed_in(identity: Mapping[str, Any], rules: RoleRules) -> Actor:
    """The actor for a signed-in identity (Streamlit's `st.user`: the ID token's claims)."""
    email = str(identity.get("email") or "").strip().lower() or None
    who = email or str(identity.get("preferred_username") or identity.get("sub") or "").strip()
    if not who:
        raise InvalidInput("identity", "the identity provider sent neither an e-mail nor a subject")
    if len(who) > MAX_AUDIT_CHARS:
        raise InvalidInput("e-mail", f"is {len(who)} characters long; the audit trail records at most 80")
    name = " ".join(str(identity.get("name") or who).split())[:MAX_AUDIT_CHARS]
    return Actor(name=name, email=email or who, roles=rules.roles_of(identity), channel="page")
