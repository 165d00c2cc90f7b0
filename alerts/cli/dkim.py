"""``alerts dkim …``: DKIM signing keys."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from alerts.cli.common import console, errors, fail
from alerts.core.settings import SettingsError, load_settings


class Algorithm(StrEnum):
    rsa = "rsa"
    ed25519 = "ed25519"


app = typer.Typer(help="DKIM signing keys.", no_args_is_help=True)


@app.command("keygen")
def dkim_keygen(
    out: Annotated[Path, typer.Option(help="Where to write the private key (PEM, mode 0600).")],
    selector: Annotated[str, typer.Option(help="The DKIM selector, e.g. alerts2026.")],
    domain: Annotated[str | None, typer.Option(help="Default: the domain of ALERTS_FROM.")] = None,
    algorithm: Annotated[
        Algorithm,
        typer.Option(
            help="rsa: 2048-bit RSA (rsa-sha256), verified everywhere; ed25519: RFC 8463 "
            "(ed25519-sha256), set as the second key beside an RSA one."
        ),
    ] = Algorithm.rsa,
) -> None:
    """Make a signing key and print the DNS TXT record to publish for it."""
    import os

    from alerts.mail.dkim import dns_record, generate, generate_ed25519

    if out.exists():
        fail(f"{out} exists: refusing to overwrite a key", 2)
    if not selector.replace("-", "").isalnum():
        fail(f"not a DKIM selector: {selector!r}", 2)
    if domain is None:
        try:
            domain = load_settings().from_domain
        except SettingsError as exc:
            fail(f"configuration: {exc}", 2)
    pem, public = generate_ed25519() if algorithm is Algorithm.ed25519 else generate()
    with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        handle.write(pem)
    # Ed25519 alone would leave the mail unsigned for every receiver that verifies only
    # RSA, so it is offered as the second signature.
    prefix = "ALERTS_DKIM_SECOND_" if algorithm is Algorithm.ed25519 else "ALERTS_DKIM_"
    errors.print(
        f"private key written to {out}; publish this record, then set "
        f"{prefix}SELECTOR={selector} {prefix}PRIVATE_KEY_FILE={out}"
    )
    record = dns_record(selector, domain, public, algorithm.value)
    console.print(record, highlight=False, soft_wrap=True)
