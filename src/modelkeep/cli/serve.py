"""``modelkeep serve``: the inference server (see :mod:`modelkeep.serve`)."""

from __future__ import annotations

from typing import Annotated

import typer

from modelkeep.cli.context import resolve_settings

__all__ = ["serve"]


def serve(
    ctx: typer.Context,
    model_uri: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_URI",
            help="models:/NAME@ALIAS, models:/NAME/VERSION, models:/NAME/latest or runs:/ID/PATH.",
        ),
    ],
    host: Annotated[
        str,
        typer.Option("--host", help="Address to bind. Anything but loopback requires --auth."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Server processes (each loads the model).")
    ] = 1,
    runtime: Annotated[
        str,
        typer.Option(
            "--runtime",
            help="auto (ONNX when its outputs match the native model), native or onnx.",
        ),
    ] = "auto",
    max_batch_size: Annotated[
        int, typer.Option("--max-batch-size", min=1, help="Most rows scored in one model call.")
    ] = 64,
    max_batch_delay_ms: Annotated[
        float,
        typer.Option(
            "--max-batch-delay-ms",
            min=0.0,
            help="Wait for more requests under concurrent load (ms).",
        ),
    ] = 2.0,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval",
            min=0.05,
            metavar="S",
            help="Seconds between checks of a served alias (hot reload).",
        ),
    ] = 5.0,
    canary: Annotated[
        str | None,
        typer.Option("--canary", metavar="URI", help="A second model answering a share."),
    ] = None,
    canary_weight: Annotated[
        float,
        typer.Option(
            "--canary-weight", min=0.0, max=1.0, help="Share of requests the canary answers."
        ),
    ] = 0.1,
    shadow: Annotated[
        str | None,
        typer.Option(
            "--shadow", metavar="URI", help="A model scoring copies of requests, logged only."
        ),
    ] = None,
    auth: Annotated[
        bool,
        typer.Option(
            "--auth/--no-auth",
            help="Require a bearer API token (`modelkeep token create`) except on health probes.",
        ),
    ] = False,
    max_body_mb: Annotated[
        float, typer.Option("--max-body-mb", min=0.01, help="Largest request body (MiB).")
    ] = 32.0,
    inference_log: Annotated[
        bool,
        typer.Option(
            "--inference-log/--no-inference-log",
            help="Append every prediction to the inference log (Parquet under the store home).",
        ),
    ] = True,
    allow_code: Annotated[
        bool,
        typer.Option(
            "--allow-code", help="Allow packages that run code when loaded (pickle, pyfunc)."
        ),
    ] = False,
    rate_limit: Annotated[
        float | None,
        typer.Option(
            "--rate-limit",
            metavar="RPS",
            min=0.001,
            help="Scoring requests a second per client (token, else address); 429 past it.",
        ),
    ] = None,
    burst: Annotated[
        int | None,
        typer.Option(
            "--burst",
            metavar="N",
            min=1,
            help="Requests a client may send at once (--rate-limit).",
        ),
    ] = None,
    query_budget: Annotated[
        int | None,
        typer.Option(
            "--query-budget",
            metavar="ROWS",
            min=1,
            help="Rows a client may have scored per --query-budget-window; 429 past it.",
        ),
    ] = None,
    query_budget_window: Annotated[
        float,
        typer.Option(
            "--query-budget-window", metavar="S", min=1.0, help="The budget's window (seconds)."
        ),
    ] = 86_400.0,
    labels_only: Annotated[
        bool, typer.Option("--labels-only", help="Answer labels, never probabilities.")
    ] = False,
    round_probabilities: Annotated[
        int | None,
        typer.Option(
            "--round-probabilities",
            metavar="N",
            min=0,
            max=15,
            help="Round probabilities to N decimals.",
        ),
    ] = None,
    detect_extraction: Annotated[
        bool,
        typer.Option(
            "--detect-extraction/--no-detect-extraction",
            help="Flag clients whose queries look like model extraction (PRADA); alert.",
        ),
    ] = False,
    extraction_threshold: Annotated[
        float,
        typer.Option(
            "--extraction-threshold",
            metavar="W",
            min=0.0,
            max=1.0,
            help="Flag a client below this Shapiro-Wilk W of its query distances.",
        ),
    ] = 0.9,
) -> None:
    """Serve a model over HTTP (MLflow /invocations, Open Inference Protocol v2) until Ctrl-C."""
    from modelkeep.serve.options import ServeOptions
    from modelkeep.serve.runner import run_serving

    settings = resolve_settings(ctx)
    options = ServeOptions(
        model_uri,
        host=host,
        port=port,
        workers=workers,
        runtime=runtime,
        max_batch_size=max_batch_size,
        max_batch_delay_ms=max_batch_delay_ms,
        poll_interval_s=poll_interval,
        canary_uri=canary,
        canary_weight=canary_weight,
        shadow_uri=shadow,
        auth=auth,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        inference_log=inference_log,
        allow_code=allow_code,
        tracking_uri=settings.resolved_tracking_uri(),
        rate_limit=rate_limit,
        burst=burst,
        query_budget=query_budget,
        query_budget_window_s=query_budget_window,
        labels_only=labels_only,
        round_probabilities=round_probabilities,
        detect_extraction=detect_extraction,
        extraction_threshold=extraction_threshold,
    )
    run_serving(options, settings)
