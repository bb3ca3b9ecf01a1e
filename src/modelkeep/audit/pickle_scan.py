"""Find pickle streams in a model package's files without loading any of them.

Unpickling runs code: a pickle names callables by module and attribute (the ``GLOBAL``,
``STACK_GLOBAL`` and ``INST`` opcodes import them) and then calls them (``REDUCE``, ``OBJ``,
``NEWOBJ``...). This module reads the opcodes with :func:`pickletools.genops`, which decodes a
stream and never executes it, and reports every global a stream would import.

Streams are looked for where model formats hide them: plain files (``.pkl``, joblib's
uncompressed files, cloudpickle), inside zip archives (skops, PyTorch ``.pt``, nested up to
three deep), behind gzip/bz2/xz/zlib compression (joblib's compressed files), and after the
header of ``.npy`` arrays of dtype ``object`` (numpy pickles those). A file with a pickle
extension that does not decode is reported too: what cannot be read cannot be called safe.

Example:
    >>> stream = b"\\x80\\x04cos\\nsystem\\n\\x8c\\x02id\\x85R."  # built by hand, never loaded
    >>> scan_bytes(stream, "evil.pkl")[0].globals
    ('os system',)
"""

from __future__ import annotations

import ast
import bz2
import io
import lzma
import pickletools
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BROKE_OFF",
    "DANGEROUS_MODULES",
    "PickleFinding",
    "is_dangerous",
    "scan_bytes",
    "scan_directory",
]

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".dill", ".sav")
_MAX_DEPTH = 3
_MAX_INFLATED = 1 << 30  # stop decompressing a member past 1 GiB (a bomb, not a model)
_IMPORT_OPS = frozenset({"GLOBAL", "INST"})
_CALL_OPS = frozenset({"REDUCE", "OBJ", "NEWOBJ", "NEWOBJ_EX", "INST", "BUILD"})
_STRING_OPS = frozenset(
    {
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
        "UNICODE",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
    }
)
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})

DANGEROUS_MODULES = frozenset(
    {
        "os", "posix", "nt", "subprocess", "sys", "socket", "shutil", "pty", "runpy",
        "importlib", "commands", "webbrowser", "pickle", "_pickle", "marshal", "ctypes",
        "code", "codeop", "pdb", "bdb", "timeit", "http", "httplib", "urllib", "urllib2",
        "requests", "asyncio", "multiprocessing", "signal", "tempfile", "types", "operator",
        "functools", "dill", "cloudpickle",
    }
)  # fmt: skip
"""Modules whose callables run commands, open sockets, load code or call anything given."""

_DANGEROUS_BUILTINS = frozenset(
    {
        "eval", "exec", "execfile", "compile", "__import__", "getattr", "setattr", "delattr",
        "open", "file", "globals", "locals", "vars", "input", "breakpoint", "apply",
        "memoryview",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PickleFinding:
    """One pickle stream found in a package.

    Attributes:
        file: the package path; ``outer.zip!inner/data.pkl`` for an archive member and
            ``file.gz!`` for a decompressed file.
        globals: ``"module name"`` of every global the stream imports, in first-seen order.
        calls: how many opcodes call or build objects (``REDUCE``, ``OBJ``, ``NEWOBJ``...).
        complete: whether the stream decoded to its ``STOP`` (joblib interleaves raw array
            bytes, so its streams stop early: the globals before that point are still found).
        error: why a file that looks like a pickle (by name) could not be decoded, if so.
    """

    file: str
    globals: tuple[str, ...]
    calls: int
    complete: bool
    error: str | None = None

    @property
    def dangerous(self) -> tuple[str, ...]:
        """The globals that run commands or code (:func:`is_dangerous`)."""
        return tuple(name for name in self.globals if is_dangerous(name))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "globals": list(self.globals),
            "dangerous": list(self.dangerous),
            "calls": self.calls,
            "complete": self.complete,
            "error": self.error,
        }


def is_dangerous(name: str) -> bool:
    """Whether the global ``"module attr"`` runs commands or code when called.

    >>> is_dangerous("os system"), is_dangerous("builtins eval"), is_dangerous("numpy dtype")
    (True, True, False)
    """
    module, _, attr = name.partition(" ")
    root = module.split(".")[0]
    if root in ("builtins", "__builtin__"):
        return attr.split(".")[0] in _DANGEROUS_BUILTINS or attr == "?"
    return root in DANGEROUS_MODULES or module == "?"


def scan_directory(root: Path) -> list[PickleFinding]:
    """Every pickle stream in the files under ``root`` (symlinks are not followed)."""
    findings: list[PickleFinding] = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        findings.extend(scan_bytes(path.read_bytes(), rel))
    return findings


def scan_bytes(data: bytes, name: str, depth: int = 0) -> list[PickleFinding]:
    """The pickle streams in one file's bytes (``name`` is what findings call it)."""
    if data[:4] == b"PK\x03\x04":
        return list(_scan_zip(data, name, depth)) if depth < _MAX_DEPTH else [_too_deep(name)]
    inflated = _decompress(data)
    if inflated is not None:
        if depth >= _MAX_DEPTH:
            return [_too_deep(name)]
        return scan_bytes(inflated, f"{name}!", depth + 1)
    if data[:6] == b"\x93NUMPY":
        return _scan_npy(data, name)
    finding = _decode(data, name)
    if finding is None and name.lower().endswith(PICKLE_SUFFIXES):
        return [PickleFinding(name, (), 0, False, "not a readable pickle stream")]
    return [] if finding is None else [finding]


def _scan_zip(data: bytes, name: str, depth: int) -> Iterator[PickleFinding]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError):
        yield from ([_unreadable(name)] if name.lower().endswith(PICKLE_SUFFIXES) else [])
        return
    with archive:
        for info in members:
            member = f"{name}!{info.filename}"
            if info.file_size > _MAX_INFLATED:
                yield PickleFinding(member, (), 0, False, "archive member too large to scan")
                continue
            try:
                content = archive.read(info)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
                yield PickleFinding(member, (), 0, False, f"unreadable archive member: {exc}")
                continue
            yield from scan_bytes(content, member, depth + 1)


def _too_deep(name: str) -> PickleFinding:
    # What cannot be read cannot be called safe.
    return PickleFinding(name, (), 0, False, f"archives nested deeper than {_MAX_DEPTH} levels")


def _unreadable(name: str) -> PickleFinding:
    return PickleFinding(name, (), 0, False, "not a readable pickle stream")


def _decompress(data: bytes) -> bytes | None:
    """The inflated bytes of a gzip, bz2, xz/lzma or zlib stream (None: not compressed)."""
    opener: Any
    if data[:2] == b"\x1f\x8b":
        opener = zlib.decompressobj(zlib.MAX_WBITS | 16)
    elif data[:2] in (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"):
        opener = zlib.decompressobj()
    elif data[:3] == b"BZh":
        opener = bz2.BZ2Decompressor()
    elif data[:6] == b"\xfd7zXZ\x00" or data[:3] == b"\x5d\x00\x00":
        opener = lzma.LZMADecompressor()
    else:
        return None
    try:
        inflated: bytes = opener.decompress(data, _MAX_INFLATED)
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
        return None
    return inflated


def _scan_npy(data: bytes, name: str) -> list[PickleFinding]:
    """A ``.npy`` of dtype object stores its array as a pickle after the header."""
    if len(data) < 10:
        return [PickleFinding(name, (), 0, False, "unreadable .npy header")]
    version = data[6]
    size_bytes = 2 if version == 1 else 4
    start = 8 + size_bytes
    header_len = int.from_bytes(data[8:start], "little")
    try:
        header = ast.literal_eval(data[start : start + header_len].decode("latin1"))
        descr = str(header["descr"]) if isinstance(header, dict) else ""
    except (ValueError, SyntaxError, KeyError, TypeError, UnicodeDecodeError, MemoryError,
            RecursionError):  # fmt: skip
        return [PickleFinding(name, (), 0, False, "unreadable .npy header")]
    if "O" not in descr:
        return []
    finding = _decode(data[start + header_len :], name)
    return [finding or PickleFinding(name, (), 0, False, "object array without a pickle")]


def _decode(data: bytes, name: str) -> PickleFinding | None:
    """Decode every pickle stream in ``data`` (one after another, as repeated
    ``pickle.load`` calls read them); None when it holds no pickle.

    A stream that opens with ``PROTO``, or that imports a global before it breaks off, is a
    pickle; one without either (protocols 0 and 1) counts only when it decodes to ``STOP``,
    so text files are not taken for pickles. A stream that breaks off is reported with an
    error: the bytes after the break (joblib's raw arrays, say) cannot be checked.
    """
    state = _Tracker()
    offset, streams = 0, 0
    while offset < len(data):
        known = len(state.globals)
        stop, broke_at = _decode_stream(data, offset, state)
        if stop is not None:
            streams, offset = streams + 1, stop + 1
            continue
        looked_like_pickle = state.stream_has_proto or len(state.globals) > known
        if not looked_like_pickle:  # text, or bytes after the last stream
            break
        error = f"{BROKE_OFF} at byte {broke_at}: the rest was searched for imports byte by byte"
        # joblib writes raw array bytes inside its stream: the opcodes after them are not
        # decodable from here, so the imports they hold are looked for byte by byte.
        found = [*state.globals, *_imports_in(data[broke_at or 0 :])]
        return PickleFinding(name, tuple(dict.fromkeys(found)), state.calls, False, error)
    if streams == 0:
        return None
    return PickleFinding(name, tuple(state.globals), state.calls, True)


BROKE_OFF = "the stream breaks off"
_GLOBAL_TEXT = re.compile(rb"[ci]([A-Za-z_][\w.]*)\n([A-Za-z_][\w.]*)\n")
_STACK_GLOBAL = re.compile(
    rb"[\x8c\x8d\x58]([\x01-\x7f])(?:\x00{3})?([A-Za-z_][\w.]*)\x94?"
    rb"[\x8c\x8d\x58]([\x01-\x7f])(?:\x00{3})?([A-Za-z_][\w.]*)\x94?\x93"
)


def _imports_in(data: bytes) -> list[str]:
    """``"module attr"`` of every GLOBAL / STACK_GLOBAL pattern in raw bytes."""
    names = [f"{m.decode()} {a.decode()}" for m, a in _GLOBAL_TEXT.findall(data)]
    for match in _STACK_GLOBAL.finditer(data):
        module, attr = match.group(2), match.group(4)
        if len(module) == match.group(1)[0] and len(attr) == match.group(3)[0]:
            names.append(f"{module.decode()} {attr.decode()}")
    return names


def _decode_stream(data: bytes, offset: int, state: _Tracker) -> tuple[int | None, int | None]:
    """Feed one stream starting at ``offset`` to ``state``: (the position of its STOP, or
    None; the position where decoding failed, or None)."""
    state.start_stream()
    last = offset
    try:
        for opcode, arg, pos in pickletools.genops(io.BytesIO(data[offset:])):
            last = offset + (pos or 0)
            state.feed(opcode.name, arg)
            if opcode.name == "STOP":
                return last, None
    except (ValueError, UnicodeDecodeError, EOFError, IndexError, OverflowError):
        return None, last
    return None, last


class _Tracker:
    """Follows just enough of the pickle machine to name ``STACK_GLOBAL``'s module and
    attribute: the strings most recently pushed, directly or through the memo."""

    def __init__(self) -> None:
        self.globals: list[str] = []
        self.calls = 0
        self.has_proto = False
        self.stream_has_proto = False
        self._strings: list[str | None] = []
        self._memo: dict[int, str | None] = {}
        self._last: str | None = None
        self._ops = 0

    def start_stream(self) -> None:
        """A new stream begins (its first opcode may be PROTO again)."""
        self._ops = 0
        self.stream_has_proto = False

    def feed(self, op: str, arg: Any) -> None:
        self._ops += 1
        if op == "PROTO" and self._ops == 1:
            self.has_proto = self.stream_has_proto = True
        if op in _IMPORT_OPS:
            self._add(str(arg))
        elif op == "STACK_GLOBAL":
            name = self._strings.pop() if self._strings else None
            module = self._strings.pop() if self._strings else None
            self._add(f"{module or '?'} {name or '?'}")
        if op in _CALL_OPS:
            self.calls += 1
        self._track_strings(op, arg)

    def _track_strings(self, op: str, arg: Any) -> None:
        if op in _STRING_OPS:
            text = arg.decode("latin1") if isinstance(arg, bytes) else str(arg)
            self._strings.append(text)
            self._last = text
        elif op in _GET_OPS:
            value = self._memo.get(int(arg))
            self._strings.append(value)
            self._last = value
        elif op == "MEMOIZE":
            self._memo[len(self._memo)] = self._last
        elif op in _PUT_OPS:
            self._memo[int(arg)] = self._last
        else:
            self._last = None

    def _add(self, name: str) -> None:
        if name not in self.globals:
            self.globals.append(name)
