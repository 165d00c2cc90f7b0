"""``alerts secret …``: the key that signs links and sessions."""

from __future__ import annotations

import typer

app = typer.Typer(help="The key that signs links and sessions.", no_args_is_help=True)


@app.command("generate")
def secret_generate() -> None:
    """Print a fresh random value for ALERTS_SECRET_KEY (or ALERTS_METRICS_TOKEN)."""
    from alerts.core.secret_policy import generate_secret

    # Plain print: no Rich wrapping or markup may alter the key.
    print(generate_secret())
