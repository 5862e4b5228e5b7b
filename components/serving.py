"""The check `make run` makes before Streamlit serves anything: is this address allowed without sign-in?

`python -m components.serving [--server.address ADDRESS] [--secrets.files PATH ...]` reads the options as
`streamlit run` will (config files, STREAMLIT_* variables, these flags) and the secrets, prints the mode it
will serve in, and exits 2 with what to configure when it must not serve. The app makes the same check on
every run (`components.identity.deployment_here`), for a server started some other way.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from streamlit import config

from components.identity import deployment_here
from studio.errors import ConfigurationError

EXIT_REFUSED = 2
WATCHED = ("server.address", "secrets.files")


def _flags(argv: list[str]) -> dict[str, Any]:
    """`--section.option value` pairs, as `streamlit run` takes them (a repeated option becomes a list)."""
    flags: dict[str, Any] = {}
    pairs = iter(argv)
    for name in pairs:
        if not name.startswith("--") or "." not in name:
            raise SystemExit(f"unexpected argument {name!r}: give --section.option value pairs")
        key, equals, value = name[2:].partition("=")
        value = value if equals else next(pairs, "")
        if key in flags:
            previous = flags[key]
            flags[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            flags[key] = [value] if key == "secrets.files" else value
    return flags


def _from_environment(flags: dict[str, Any]) -> dict[str, Any]:
    """STREAMLIT_SERVER_ADDRESS and STREAMLIT_SECRETS_FILES, which `streamlit run` reads as flags."""
    for key in WATCHED:
        name = "STREAMLIT_" + key.upper().replace(".", "_")
        if key not in flags and os.environ.get(name):
            flags[key] = os.environ[name].split() if key == "secrets.files" else os.environ[name]
    return flags


def main(argv: list[str] | None = None) -> int:
    flags = _from_environment(_flags(sys.argv[1:] if argv is None else argv))
    config.get_config_options(force_reparse=True, options_from_flags=flags)
    try:
        where = deployment_here()
    except ConfigurationError as error:
        print(f"Reference Studio will not serve: {error}", file=sys.stderr)
        return EXIT_REFUSED
    port = config.get_option("server.port")
    if where.mode == "local":
        print(f"Local mode: http://{where.address}:{port}, this machine only; you hold every role.")
    else:
        print(f"Team mode on {where.where}:{port}: sign-in through {', '.join(where.providers)}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
