"""`api-key create NAME --role ROLE` · `api-key list` · `api-key revoke NAME`: keys of the HTTP API in team
mode. A new key is printed once, on stdout, and never again (only its hash is kept)."""

from __future__ import annotations

import argparse
from typing import Any

from studio.access.roles import ROLES
from studio.cli import output


def register(commands: Any) -> None:
    keys = commands.add_parser(
        "api-key", help="keys for the HTTP API in team mode (shown once, stored hashed)"
    )
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a key for one role; it is shown once")
    create.add_argument("name", metavar="NAME", help="who or what uses the key (letters, digits, - and _)")
    create.add_argument("--role", required=True, help=" | ".join(ROLES))
    create.set_defaults(handler=run_create)
    listing = actions.add_parser("list", help="every key's name, role and state (never the key)")
    listing.set_defaults(handler=run_list)
    revoke = actions.add_parser("revoke", help="revoke a key: it is refused from now on")
    revoke.add_argument("name", metavar="NAME")
    revoke.set_defaults(handler=run_revoke)
    for sub in (create, listing, revoke):
        sub.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def run_create(args: argparse.Namespace) -> int:
    from studio.access.api_keys import create_key

    with output.open_services() as services:
        made = create_key(services.records, args.name, args.role)
    if args.json:
        output.emit_json(made)
    else:
        output.line(made.key)
    output.info(f"API key {made.name} ({made.role}) made; it is shown this once: keep it now")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from studio.access.api_keys import list_keys

    with output.open_services() as services:
        keys = list_keys(services.records)
    if args.json:
        output.emit_json({"keys": [key.model_dump(mode="json") for key in keys]})
        return 0
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
        output.line(f"{key.name:<24} {key.role:<9} made {key.created_at:%Y-%m-%d %H:%M}  {state}")
    if not keys:
        output.line("no API keys")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from studio.access.api_keys import revoke_key

    with output.open_services() as services:
        revoke_key(services.records, args.name)
    if args.json:
        output.emit_json({"name": args.name, "revoked": True})
    else:
        output.line(f"API key {args.name} revoked")
    return 0
