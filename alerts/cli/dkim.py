"""``alerts dkim …``: DKIM signing keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alerts.cli.common import console, errors, fail
from alerts.core.settings import SettingsError, load_settings

app = typer.Typer(help="DKIM signing keys.", no_args_is_help=True)


@app.command("keygen")
def dkim_keygen(
    out: Annotated[Path, typer.Option(help="Where to write the private key (PEM, mode 0600).")],
    selector: Annotated[str, typer.Option(help="The DKIM selector, e.g. alerts2026.")],
    domain: Annotated[str | None, typer.Option(help="Default: the domain of ALERTS_FROM.")] = None,
) -> None:
    """Make a signing key and print the DNS TXT record to publish for it."""
    import os

    from alerts.mail.dkim import dns_record, generate

    if out.exists():
        fail(f"{out} exists: refusing to overwrite a key", 2)
    if not selector.replace("-", "").isalnum():
        fail(f"not a DKIM selector: {selector!r}", 2)
    if domain is None:
        try:
            domain = load_settings().from_domain
        except SettingsError as exc:
            fail(f"configuration: {exc}", 2)
    pem, public = generate()
    with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        handle.write(pem)
    errors.print(
        f"private key written to {out}; publish this record, then set "
        f"ALERTS_DKIM_SELECTOR={selector} ALERTS_DKIM_PRIVATE_KEY_FILE={out}"
    )
    console.print(dns_record(selector, domain, public), highlight=False, soft_wrap=True)
