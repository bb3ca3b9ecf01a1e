"""``modelkeep models card|sign|verify|export|import|predict``: commands that read a package.

Each re-hashes the package against the registered root digest before doing anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelkeep.cli.context import open_client
from modelkeep.cli.models import JsonOption, app
from modelkeep.cli.output import print_json, print_table
from modelkeep.exceptions import InvalidInputError, ModelkeepError
from modelkeep.registry.signing import load_private_key, load_public_key

__all__ = ["card", "export", "import_", "predict", "sign", "verify"]

AllowCodeOption = Annotated[
    bool,
    typer.Option(
        "--allow-code",
        help="Trust pickled code and types off the allowlist (only for trusted sources).",
    ),
]
UriArgument = Annotated[
    str,
    typer.Argument(
        metavar="MODEL_URI", help="models:/<name>/<version>, models:/<name>@<alias> or /latest"
    ),
]


@app.command("card")
def card(
    ctx: typer.Context,
    model_uri: UriArgument,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder to write the card into.")
    ] = Path("."),
) -> None:
    """Write a model card as Markdown and self-contained HTML."""
    with open_client(ctx) as client:
        markdown, html = client.write_model_card(model_uri, output)
    typer.echo(f"Wrote {markdown}")
    typer.echo(f"Wrote {html}")


@app.command("sign")
def sign(
    ctx: typer.Context,
    model_uri: UriArgument,
    key: Annotated[Path, typer.Option("--key", help="Private key file (from keys generate).")],
    passphrase: Annotated[
        str | None,
        typer.Option(
            "--passphrase", envvar="MODELKEEP_KEY_PASSPHRASE", help="Passphrase of the key."
        ),
    ] = None,
) -> None:
    """Sign a registered version's root digest with an ed25519 private key."""
    private_key = load_private_key(key, passphrase)
    with open_client(ctx) as client:
        signature = client.sign_model_version(model_uri, private_key)
    typer.echo(f"Signed {model_uri} with key {signature.key_id}")


@app.command("verify")
def verify(
    ctx: typer.Context,
    model_uri: UriArgument,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key", metavar="PUBLIC_KEY", help="Also trust this .pub file or base64 key."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Re-hash the package and check its signatures; exit 1 unless a trusted one verifies."""
    trusted = [load_public_key(k) for k in key or ()]
    with open_client(ctx) as client:
        report = client.verify_model_version(model_uri, trusted)
    if as_json:
        print_json(report.to_dict())
    else:
        typer.echo(f"Package files match root digest {report.root_digest}")
        rows = [
            (c.key_id, c.signed_by, "yes" if c.valid else "NO", "yes" if c.trusted else "no")
            for c in report.signatures
        ]
        columns = ("key id", "signed by", "valid", "trusted")
        print_table("Signatures", columns, rows, empty="none")
        typer.echo("Verified." if report.ok else "NOT verified: no valid trusted signature.")
    if not report.ok:
        raise typer.Exit(1)


@app.command("export")
def export(
    ctx: typer.Context,
    model_uri: UriArgument,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Archive path (.tar.gz).")
    ] = None,
) -> None:
    """Export one registered version (package + registry metadata) as a .tar.gz."""
    with open_client(ctx) as client:
        version = client.resolve_model_uri(model_uri).version
        name = f"{version.name}-v{version.version}.tar.gz" if version else "model.tar.gz"
        path = client.export_model_version(model_uri, output or Path(name))
    typer.echo(f"Exported {model_uri} to {path}")


@app.command("import")
def import_(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(metavar="ARCHIVE", help="A models export .tar.gz.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Register under this name instead.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Import an exported version: safe extraction, digest check, then registration."""
    with open_client(ctx) as client:
        version = client.import_model_version(archive, name)
    if as_json:
        print_json(version.to_dict())
    else:
        typer.echo(f"Imported {archive} as {version.uri}")


def _read_table(path: Path) -> Any:
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".json"):
        raise InvalidInputError(
            f"cannot read {path.name}: use a .csv, .parquet or .json file", field="input"
        )
    if not path.is_file():
        raise InvalidInputError(f"no such file: {path}", field="input")
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_json(path)
    except (ValueError, pd.errors.ParserError, ImportError) as exc:  # EmptyDataError too
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"cannot read {path.name}: {first}", field="input") from None


@app.command("predict")
def predict(
    ctx: typer.Context,
    model_uri: UriArgument,
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="Rows to score: .csv, .parquet or .json.")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write CSV here (default: stdout).")
    ] = None,
    proba: Annotated[
        bool, typer.Option("--proba", help="Class probabilities instead of predictions.")
    ] = False,
    allow_code: AllowCodeOption = False,
) -> None:
    """Load a model (verified, safe by default) and score a file; prints CSV."""
    import pandas as pd

    data = _read_table(input_path)
    with open_client(ctx) as client:
        model = client.load_model(model_uri, allow_code=allow_code)
    try:
        result = model.predict_proba(data) if proba else model.predict(data)
    except ModelkeepError:
        raise
    except Exception as exc:  # noqa: BLE001 - the framework's own complaint, shown as one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(
            f"the model could not score {input_path.name}: {first}", field="input"
        ) from None
    frame = result if isinstance(result, pd.DataFrame) else pd.DataFrame(result)
    if not proba and frame.shape[1] == 1:
        frame.columns = ["prediction"]
    frame.columns = [str(c) for c in frame.columns]
    text = frame.to_csv(index=False)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"Wrote {len(frame)} rows to {output}", err=True)
