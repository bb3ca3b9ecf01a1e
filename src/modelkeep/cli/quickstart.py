"""``modelkeep quickstart``: the model lifecycle so far, on the embedded store.

A logistic regression, written with numpy alone, is fitted by gradient descent on a generated
two-class dataset, once per learning rate. Each fit is one run of the ``quickstart`` experiment,
logged through the public fluent API: params, per-step ``loss`` and ``accuracy``, validation
metrics, the train and validation datasets, a text report, and the model itself as a safe
package (the weights in a scikit-learn ``LogisticRegression``, saved with skops). The best run's
model is then registered, aliased ``champion`` and loaded back by its alias to score the
validation set, checking that the loaded model reproduces the tracked accuracy. Finally the
champion is served by the inference server (:mod:`modelkeep.cli.quickstart_serve`) and the
validation rows are scored over HTTP, each prediction landing in the inference log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelkeep.cli.context import resolve_settings, store_option_hint
from modelkeep.cli.output import print_table

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from modelkeep.tracking import ActiveRun

__all__ = ["EXPERIMENT", "MODEL_NAME", "quickstart"]

EXPERIMENT = "quickstart"
MODEL_NAME = "quickstart-logreg"
_FEATURES = ("x0", "x1", "x2", "x3")


@dataclass(frozen=True)
class _Split:
    x: NDArray[np.float64]
    y: NDArray[np.float64]

    def frame(self) -> Any:
        import pandas as pd

        frame = pd.DataFrame(self.x, columns=list(_FEATURES))
        frame["label"] = self.y.astype(int)
        return frame

    def features(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.x, columns=list(_FEATURES))


def _as_estimator(w: NDArray[np.float64], b: float) -> Any:
    """The learned weights as a fitted scikit-learn LogisticRegression (same decision rule)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression()
    model.coef_ = w.reshape(1, -1).copy()
    model.intercept_ = np.array([b])
    model.classes_ = np.array([0, 1])
    model.n_features_in_ = len(_FEATURES)
    model.feature_names_in_ = np.array(_FEATURES, dtype=object)
    return model


@dataclass(frozen=True)
class _Result:
    run_id: str
    run_name: str
    learning_rate: float
    loss: float
    accuracy: float
    val_accuracy: float


def _make_data(rows: int = 600, seed: int = 0) -> tuple[_Split, _Split]:
    """Two overlapping Gaussian classes; the first features separate them best."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows).astype(np.float64)
    signs = np.where(y[:, None] == 1.0, 1.0, -1.0)
    x = signs * np.array([1.0, 0.6, 0.3, 0.0]) + rng.normal(size=(rows, len(_FEATURES)))
    cut = rows * 3 // 4
    return _Split(x[:cut], y[:cut]), _Split(x[cut:], y[cut:])


def _evaluate(w: NDArray[np.float64], b: float, split: _Split) -> tuple[float, float]:
    """Log-loss and accuracy of the model on a split."""
    import numpy as np

    # Clipping keeps exp() finite: an overflow warning would be an error under pytest.
    p = 1.0 / (1.0 + np.exp(-np.clip(split.x @ w + b, -30.0, 30.0)))
    eps = 1e-12
    loss = -np.mean(split.y * np.log(p + eps) + (1.0 - split.y) * np.log(1.0 - p + eps))
    accuracy = np.mean((p >= 0.5) == (split.y == 1.0))
    return float(loss), float(accuracy)


def _fit(
    run: ActiveRun, train: _Split, lr: float, steps: int, advance: Callable[[], None]
) -> tuple[NDArray[np.float64], float, float, float]:
    """Gradient descent, logging loss and accuracy at every step."""
    import numpy as np

    w = np.zeros(train.x.shape[1])
    b = 0.0
    loss, accuracy = _evaluate(w, b, train)
    for step in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(train.x @ w + b, -30.0, 30.0)))
        w = w - lr * (train.x.T @ (p - train.y)) / len(train.y)
        b -= lr * float(np.mean(p - train.y))
        loss, accuracy = _evaluate(w, b, train)
        run.log_metrics({"loss": loss, "accuracy": accuracy}, step=step)
        advance()
    return w, b, loss, accuracy


def _track_one(
    data: tuple[_Split, _Split], lr: float, steps: int, advance: Callable[[], None]
) -> _Result:
    import modelkeep as mk

    train, val = data
    name = f"logreg-lr-{lr:g}"
    with mk.start_run(experiment=EXPERIMENT, run_name=name, tags={"source": "quickstart"}) as run:
        run.log_params({"model": "logistic_regression", "learning_rate": lr, "steps": steps})
        run.log_params({"train_rows": len(train.y), "features": len(_FEATURES)})
        run.log_dataset(train.frame(), name="train", context="training")
        run.log_dataset(val.frame(), name="validation", context="validation")
        w, b, loss, accuracy = _fit(run, train, lr, steps, advance)
        val_loss, val_accuracy = _evaluate(w, b, val)
        run.log_metrics({"val_loss": val_loss, "val_accuracy": val_accuracy}, step=steps - 1)
        run.log_model(_as_estimator(w, b), "model", input_example=val.features().head(5))
        report = (
            f"logistic regression, learning rate {lr:g}, {steps} steps\n"
            f"train: loss {loss:.4f}, accuracy {accuracy:.4f}\n"
            f"validation: loss {val_loss:.4f}, accuracy {val_accuracy:.4f}\n"
        )
        run.log_text(report, "report.txt")
    return _Result(run.id, name, lr, loss, accuracy, val_accuracy)


def _learning_rates(count: int) -> list[float]:
    """``count`` rates spread evenly on a log scale from 0.01 to 1."""
    if count == 1:
        return [0.1]
    return [round(0.01 * 100 ** (i / (count - 1)), 6) for i in range(count)]


def _train_all(uri: str, count: int, steps: int) -> list[_Result]:
    from rich.console import Console
    from rich.progress import Progress

    import modelkeep as mk
    from modelkeep.tracking import fluent

    data = _make_data()
    results = []
    mk.set_tracking_uri(uri)
    try:
        with Progress(console=Console(stderr=True)) as progress:
            task = progress.add_task("training", total=count * steps)
            for lr in _learning_rates(count):
                progress.update(task, description=f"lr={lr:g}")
                results.append(_track_one(data, lr, steps, lambda: progress.advance(task)))
    finally:
        # Close the fluent API's cached store so a caller in the same process starts clean.
        fluent.reset()
        mk.set_tracking_uri(None)
    return results


@dataclass(frozen=True)
class _Registered:
    version: int
    run_name: str
    val_accuracy: float
    loaded_accuracy: float


def _register_best(uri: str, results: list[_Result]) -> _Registered:
    """Register the best model by validation accuracy, alias it ``champion``, load it back
    through the alias and score the validation set with it."""
    import numpy as np

    import modelkeep as mk
    from modelkeep.tracking import fluent

    best = max(results, key=lambda r: (r.val_accuracy, -r.loss))
    _, val = _make_data()
    mk.set_tracking_uri(uri)
    try:
        mv = mk.register_model(
            f"runs:/{best.run_id}/model",
            name=MODEL_NAME,
            description="Quickstart: numpy logistic regression on two Gaussian classes.",
            tags={"source": "quickstart"},
        )
        reason = f"best validation accuracy ({best.val_accuracy:.3f}) of {len(results)} runs"
        mk.set_alias(MODEL_NAME, "champion", version=mv.version, reason=reason)
        champion = mk.load_model(f"models:/{MODEL_NAME}@champion")
        predicted = np.asarray(champion.predict(val.features()))
        loaded_accuracy = float(np.mean(predicted == val.y.astype(int)))
    finally:
        fluent.reset()
        mk.set_tracking_uri(None)
    return _Registered(mv.version, best.run_name, best.val_accuracy, loaded_accuracy)


def _print_next_steps(ctx: typer.Context, best: _Result) -> None:
    store = store_option_hint(ctx)
    typer.echo("\nLook at the result:")
    typer.echo(
        f'  modelkeep {store}runs search --experiment {EXPERIMENT} --order-by "metrics.accuracy'
        ' DESC"'
    )
    typer.echo(f"  modelkeep {store}runs show {best.run_id}")
    typer.echo(f"  modelkeep {store}artifacts list {best.run_id}")
    typer.echo(f"  modelkeep {store}models show {MODEL_NAME}")
    typer.echo(f"  modelkeep {store}models card models:/{MODEL_NAME}@champion")
    typer.echo(f"  modelkeep {store}server    # then open http://127.0.0.1:5000/docs")
    typer.echo(f"  modelkeep {store}serve models:/{MODEL_NAME}@champion    # port 8080")
    typer.echo(f"  modelkeep logs tail {MODEL_NAME}")


def quickstart(
    ctx: typer.Context,
    runs: Annotated[
        int, typer.Option("--runs", min=1, max=50, help="Number of runs (learning rates).")
    ] = 3,
    steps: Annotated[
        int, typer.Option("--steps", min=1, max=10_000, help="Gradient steps per run.")
    ] = 20,
) -> None:
    """Track a small numpy training (one run per learning rate) and show how to inspect it."""
    uri = resolve_settings(ctx).resolved_tracking_uri()
    results = _train_all(uri, runs, steps)
    results.sort(key=lambda r: (-r.accuracy, r.loss))
    rows = [
        (r.run_id, r.run_name, r.learning_rate, r.accuracy, r.val_accuracy, r.loss)
        for r in results
    ]
    columns = ("run id", "name", "learning rate", "accuracy", "val accuracy", "loss")
    print_table(
        f"Experiment {EXPERIMENT!r}: {len(results)} runs, best first",
        columns,
        rows,
        keep_whole=("run id",),
    )
    registered = _register_best(uri, results)
    typer.echo(
        f"\nRegistered {registered.run_name} as models:/{MODEL_NAME}/{registered.version} "
        f"and aliased it 'champion'. Loaded back through the alias, it scores validation "
        f"accuracy {registered.loaded_accuracy:.3f} (tracked: {registered.val_accuracy:.3f})."
    )
    _serve_champion(ctx)
    _print_next_steps(ctx, results[0])


def _serve_champion(ctx: typer.Context) -> None:
    from modelkeep.cli.quickstart_serve import serve_and_score

    _, val = _make_data()
    served = serve_and_score(
        resolve_settings(ctx), f"models:/{MODEL_NAME}@champion", val.features(), val.y
    )
    typer.echo(
        f"Served models:/{MODEL_NAME}@champion (version {served.version}, {served.runtime} "
        f"runtime) over HTTP: {served.requests} one-row requests, validation accuracy "
        f"{served.accuracy:.3f}; {served.logged} predictions in the inference log."
    )
