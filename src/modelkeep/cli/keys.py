"""``modelkeep keys generate``: ed25519 key pairs for signing model versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelkeep.registry.signing import generate_keypair, key_id, load_public_key

__all__ = ["app"]

app = typer.Typer(help="Signing keys for model versions (ed25519).", no_args_is_help=True)

PassphraseOption = Annotated[
    str | None,
    typer.Option(
        "--passphrase",
        envvar="MODELKEEP_KEY_PASSPHRASE",
        help="Encrypt the private key with this passphrase (or MODELKEEP_KEY_PASSPHRASE).",
    ),
]


@app.command("generate")
def generate(
    prefix: Annotated[
        Path,
        typer.Argument(metavar="PREFIX", help="Writes PREFIX.key (private, 0600) and PREFIX.pub."),
    ],
    passphrase: PassphraseOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files.")] = False,
) -> None:
    """Generate a key pair: sign with PREFIX.key, trust and verify with PREFIX.pub."""
    private_path, public_path = generate_keypair(prefix, passphrase, overwrite=force)
    fingerprint = key_id(load_public_key(public_path))
    typer.echo(f"Private key: {private_path} (keep it secret)")
    typer.echo(f"Public key:  {public_path} (key id {fingerprint})")
