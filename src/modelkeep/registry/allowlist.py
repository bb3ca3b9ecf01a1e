"""modelkeep's allowlist: the types a skops file may hold and still load without ``allow_code``.

skops refuses by default every type outside its own trusted set and reports them with
``skops.io.get_untrusted_types``. The scikit-learn flavor records that report at save time and,
at load, trusts exactly the recorded types, and only when each one passes :func:`is_allowed`.

The rule, by fully qualified name (``module.qualname``), decided without importing anything:

1. **scikit-learn classes**: a name under ``sklearn.`` whose last part is a class name
   (starts with a capital, after any leading underscores), outside the test, mocking and
   vendored-code modules (``sklearn.utils._testing``, ``sklearn.utils._mocking``,
   ``sklearn.externals``, ``*.tests``, ``sklearn.conftest``). A class is data plus
   scikit-learn's own methods; a callable it holds (``FunctionTransformer.func``, a callable
   ``metric``, a column selector) is a separate node in the file and is judged on its own.
   This admits ``sklearn.tree._tree.Tree`` and HistGradientBoosting's ``TreePredictor``, which
   skops distrusts because a *crafted* node array can make ``predict`` read out of bounds; the
   scikit-learn flavor checks every loaded tree's node indices before it hands the model out,
   and packages are pinned by their root digest (and signatures) in the registry.
2. **scikit-learn metric functions**: plain functions under ``sklearn.metrics.`` (what a scorer
   such as ``make_scorer(accuracy_score)`` or ``GridSearchCV(scoring=...)`` holds): they only
   compute a number from arrays.
3. **numpy** data types: ``numpy.ndarray``, ``numpy.dtype`` and its ``numpy.dtypes.*`` classes,
   the scalar types (``numpy.float64``...), masked arrays, and the random generators.
4. **scipy.sparse** matrices and arrays of every format.
5. **builtins** that are pure data: containers, numbers, strings, bytes, ``slice``, ``None``.
   Never ``eval``, ``exec``, ``getattr``, ``__import__`` or any other builtin function.
6. **modelkeep's own data-only estimators**, named one by one in ``_MODELKEEP_TYPES``: the
   cleaning transformers and the gradient-descent regressor that training puts in a pipeline.
   Their fitted state is floats, numpy arrays and lists of strings, and their methods are
   modelkeep's code, already running; never a whole ``modelkeep.`` prefix, so a new class is
   trusted only once someone has checked that it holds plain data and added it here.

Everything else (``operator.*``, ``os.*``, user functions and classes, ``lightgbm`` and
``xgboost`` objects, which their own flavors save in native formats) needs ``allow_code=True``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["is_allowed", "untrusted"]

_SKLEARN_EXCLUDED_MODULES = (
    "sklearn.utils._testing",
    "sklearn.utils._mocking",
    "sklearn.externals",
    "sklearn.conftest",
)

_CLASS_NAME = re.compile(r"^_*[A-Z][A-Za-z0-9_]*$")
_FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_NUMPY_SCALARS = (
    "bool bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 intc uintc intp uintp "
    "longlong ulonglong float16 float32 float64 longdouble complex64 complex128 clongdouble "
    "str_ bytes_ void datetime64 timedelta64 object_"
).split()

_SPARSE_FORMATS = ("bsr", "coo", "csc", "csr", "dia", "dok", "lil")

_EXPLICIT = frozenset(
    {
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.ma.core.MaskedArray",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        "numpy.random.RandomState",
        "numpy.random.Generator",
        *(f"numpy.{name}" for name in _NUMPY_SCALARS),
        *(
            f"scipy.sparse._{fmt}.{fmt}_{kind}"
            for fmt in _SPARSE_FORMATS
            for kind in ("matrix", "array")
        ),
        *(
            f"builtins.{name}"
            for name in (
                "dict list tuple set frozenset int float complex bool str bytes bytearray "
                "slice NoneType"
            ).split()
        ),
        "collections.OrderedDict",
    }
)

# Checked by hand to hold plain data only (see rule 6); add a class here, never a prefix.
_MODELKEEP_TYPES = frozenset(
    {
        "modelkeep.data.cleaning.OutlierClipper",
        "modelkeep.data.cleaning.RareCategoryGrouper",
        "modelkeep.train.gd.GradientDescentRegressor",
    }
)

_NUMPY_PATTERNS = (
    re.compile(r"^numpy\.dtypes\.[A-Z][A-Za-z0-9]*DType$"),
    re.compile(r"^numpy\.random\.(_[a-z0-9]+\.)?(PCG64|PCG64DXSM|MT19937|Philox|SFC64)$"),
)


def _in_excluded_module(module: str) -> bool:
    if any(module == ex or module.startswith(ex + ".") for ex in _SKLEARN_EXCLUDED_MODULES):
        return True
    return "tests" in module.split(".")


def is_allowed(type_name: str) -> bool:
    """Whether ``type_name`` (``module.qualname`` as skops reports it) is on the allowlist.

    Example:
        >>> is_allowed("sklearn.tree._tree.Tree")
        True
        >>> is_allowed("posix.system")
        False
    """
    if type_name in _EXPLICIT or type_name in _MODELKEEP_TYPES:
        return True
    if any(pattern.match(type_name) for pattern in _NUMPY_PATTERNS):
        return True
    module, _, last = type_name.rpartition(".")
    if not module.startswith("sklearn.") or _in_excluded_module(module):
        return False
    if _CLASS_NAME.match(last):
        return True
    return (module == "sklearn.metrics" or module.startswith("sklearn.metrics.")) and bool(
        _FUNCTION_NAME.match(last)
    )


def untrusted(types: Iterable[str]) -> list[str]:
    """The names in ``types`` that are not on the allowlist, sorted and without repeats."""
    return sorted({name for name in types if not is_allowed(name)})
