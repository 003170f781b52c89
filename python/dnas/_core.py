"""The Python face of libdnas: errors, logging, the search session, the NB201 table."""
import ctypes
import json
import logging
import os
import sys
import traceback

import numpy as np

from . import _lib
from ._lib import lib


class DnasError(RuntimeError):
    """A libdnas call failed; str() is the library's one-line message (dnas_last_error)."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = lib.dnas_status_string(status).decode()
        self.message = message
        super().__init__(message or self.status_name)


class Interrupted(DnasError):
    """The search stopped on request (interrupt(), max_steps) after saving a checkpoint."""


def _check(status):
    if status != _lib.DNAS_OK:
        message = lib.dnas_last_error().decode(errors="replace")
        cls = Interrupted if status == _lib.DNAS_ERR_INTERRUPTED else DnasError
        raise cls(status, message)


def _b(s):
    return s.encode() if isinstance(s, str) else s


def version():
    """The loaded library's version, e.g. '0.1.0'."""
    return lib.dnas_version().decode()


def library_path():
    """The path of the libdnas that was loaded."""
    return _lib.path


# ---- logging --------------------------------------------------------------------------------
_LEVELS = {0: "info", 1: "warning", 2: "progress"}
_log_callback = None  # the ctypes callback object: C holds its address, so it must stay alive


def set_log(target):
    """Where the library's messages go (process-wide, as in C): None = stderr (the default);
    a logging.Logger or the string "logging" (logger "dnas": info, warning; progress at DEBUG);
    or a callable f(level, line) with level "info" | "warning" | "progress"."""
    global _log_callback
    if target is None:
        lib.dnas_set_log_callback(_lib.LOG_FN(), None)
        _log_callback = None
        return
    if target == "logging":
        target = logging.getLogger("dnas")
    if isinstance(target, logging.Logger):
        logger = target
        levels = {"info": logging.INFO, "warning": logging.WARNING, "progress": logging.DEBUG}

        def target(level, line):
            logger.log(levels[level], "%s", line)
    if not callable(target):
        raise TypeError("set_log: expected None, 'logging', a logging.Logger or a callable")
    fn = target

    def trampoline(user, level, line):
        # An exception cannot cross the C frames: print it and let the search go on.
        try:
            fn(_LEVELS.get(level, "info"), line.decode(errors="replace"))
        except Exception:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)

    cb = _lib.LOG_FN(trampoline)
    lib.dnas_set_log_callback(cb, None)
    _log_callback = cb


# ---- settings -------------------------------------------------------------------------------
def _value(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return repr(v)  # shortest text that reads back as the same double
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    return str(v)


class _Config:
    """A heap dnas_search_config (the binding never needs its size or layout)."""

    def __init__(self, algo):
        p = ctypes.c_void_p()
        _check(lib.dnas_search_config_new(_b(algo), ctypes.byref(p)))
        self.p = p

    def set(self, key, value):
        _check(lib.dnas_search_config_set(self.p, _b(key), _b(_value(value))))

    def preset(self, name):
        _check(lib.dnas_search_config_preset(self.p, _b(name)))

    def free(self):
        if self.p:
            lib.dnas_search_config_free(self.p)
            self.p = None


def _config_dict(cfg_ptr):
    buf = ctypes.create_string_buffer(1 << 16)
    _check(lib.dnas_search_config_json(cfg_ptr, buf, len(buf)))
    return json.loads(buf.value.decode())


# ---- results --------------------------------------------------------------------------------
def _bench_dict(r):
    return {k: getattr(r, k) for k, _ in _lib.NB201Result._fields_}


class Result:
    """What finish() returns: the search's final genotype and metrics, and the selection's
    genotype when the configuration asks for one (select="pt")."""

    def __init__(self, r, sel):
        self.arch = r.arch.decode()
        self.train_acc, self.valid_acc = r.train_acc, r.valid_acc
        self.train_loss, self.valid_loss = r.train_loss, r.valid_loss
        self.epochs_done = r.epochs_done
        self.seconds = r.seconds
        self.select = r.select.decode()
        self.dir = r.dir.decode()
        self.selected_arch = sel.arch.decode() or None
        self.selected_bench = _bench_dict(sel.bench) if sel.has_bench else None

    def __repr__(self):
        return "Result(arch=%r, epochs_done=%d, valid_acc=%.2f, selected_arch=%r)" % (
            self.arch, self.epochs_done, self.valid_acc, self.selected_arch)


# ---- the search -----------------------------------------------------------------------------
class Search:
    """A search driven step by step: the same loop as `dnas search`, so the same settings, seed
    and threads give the same alpha and genotype bit for bit.

        with dnas.Search(out="runs/a", algo="darts1", epochs=2, data="data/cifar-10-batches-bin",
                         seed=1, threads=1) as s:
            while not s.done:
                s.run_epoch()
                print(s.epoch, s.genotype(), s.weights[0])
            print(s.finish().arch)

    Settings are the names of `dnas search --help` ('-' or '_'); `out` and `data` are short
    for out_dir and data_dir; `preset="quick"` applies a preset before them. The progress line
    is off unless progress=1. Messages go to stderr unless dnas.set_log() routes them (or
    log=... here, which calls set_log)."""

    def __init__(self, out=None, algo="darts1", preset=None, log=None, **settings):
        self._h = None
        if log is not None:
            set_log(log)
        cfg = _Config(algo)
        try:
            if preset:
                cfg.preset(preset)
            settings.setdefault("progress", 0)
            if out is not None:
                settings["out_dir"] = out
            for k, v in settings.items():
                cfg.set(k, v)
            h = ctypes.c_void_p()
            _check(lib.dnas_session_open(cfg.p, ctypes.byref(h)))
            self._h = h
        finally:
            cfg.free()
        self._init_shape()

    @classmethod
    def resume(cls, dir, threads=0, log=None):
        """Continues the search in `dir` from its checkpoint, with its stored settings
        (threads > 0 replaces the thread count: bit-identical only with the same one)."""
        if log is not None:
            set_log(log)
        self = cls.__new__(cls)
        self._h = None
        h = ctypes.c_void_p()
        _check(lib.dnas_session_open_resume(_b(os.fspath(dir)), int(threads), ctypes.byref(h)))
        self._h = h
        self._init_shape()
        return self

    def _init_shape(self):
        g, r, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        lib.dnas_session_alpha_shape(self._handle, ctypes.byref(g), ctypes.byref(r), ctypes.byref(c))
        self.shape = (g.value, r.value, c.value)

    @property
    def _handle(self):
        if not self._h:
            raise DnasError(1, "the search session is closed")
        return self._h

    # -- driving --
    def step(self, n=1):
        """Runs n more steps (fewer if the search ends), epoch ends included."""
        _check(lib.dnas_session_step(self._handle, int(n)))

    def run_epoch(self):
        """Runs the rest of the current epoch, its end included."""
        _check(lib.dnas_session_run_epoch(self._handle))

    def run(self):
        """Runs to the end of the search (finish() still to be called)."""
        while not self.done:
            self.run_epoch()

    def interrupt(self):
        """From another thread: the step call in progress stops after its current step,
        checkpoints, and raises dnas.Interrupted."""
        lib.dnas_session_interrupt(self._handle)

    def save(self):
        """Writes a checkpoint now (resumable with Search.resume or `dnas search --resume`)."""
        _check(lib.dnas_session_save(self._handle))

    def finish(self):
        """The end of a finished search (genotype files, --table lookup, --select pt)."""
        r, sel = _lib.SearchResult(), _lib.SelectResult()
        _check(lib.dnas_session_finish(self._handle, ctypes.byref(r), ctypes.byref(sel)))
        return Result(r, sel)

    def close(self):
        if self._h:
            lib.dnas_session_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 (interpreter shutdown)
            pass

    # -- position --
    epoch = property(lambda self: lib.dnas_session_epoch(self._handle),
                     doc="epoch of the next step (0-based; = epochs when done)")
    epoch_step = property(lambda self: lib.dnas_session_epoch_step(self._handle),
                          doc="step within the epoch of the next step")
    total_steps = property(lambda self: lib.dnas_session_total_steps(self._handle))
    steps_per_epoch = property(lambda self: lib.dnas_session_steps_per_epoch(self._handle))
    epochs = property(lambda self: lib.dnas_session_epochs(self._handle))
    done = property(lambda self: bool(lib.dnas_session_done(self._handle)))
    dir = property(lambda self: lib.dnas_session_dir(self._handle).decode(),
                   doc="the absolute run directory")

    @property
    def config(self):
        """The settings in effect, as config.json holds them."""
        return _config_dict(lib.dnas_session_config(self._handle))

    # -- architecture --
    def _floats(self, fn):
        a = np.empty(self.shape, dtype=np.float32)
        _check(fn(self._handle, a.ctypes.data_as(_lib.c_float_p), a.size))
        return a

    @property
    def alpha(self):
        """A copy of alpha, groups x rows x cols float32 (GAEA: theta)."""
        return self._floats(lib.dnas_session_get_alpha)

    @alpha.setter
    def alpha(self, value):
        a = np.ascontiguousarray(value, dtype=np.float32)
        if a.shape != self.shape:
            raise ValueError("alpha must have shape %s (got %s)" % (self.shape, a.shape))
        _check(lib.dnas_session_set_alpha(self._handle, a.ctypes.data_as(_lib.c_float_p), a.size))

    @property
    def weights(self):
        """The architecture weights that the logs hold (softmax(alpha), GAEA's theta, ...)."""
        return self._floats(lib.dnas_session_get_weights)

    def genotype(self):
        """Genotype text of the current weights (NB201: its arch string)."""
        buf = ctypes.create_string_buffer(4096)
        _check(lib.dnas_session_genotype(self._handle, buf, len(buf)))
        return buf.value.decode()


def query(arch, table=None):
    """NAS-Bench-201 accuracies of an arch string from `table` (default $DNAS_NB201_TABLE):
    a dict with index, c10_valid, c10_test, c100_valid, c100_test, in16_valid, in16_test."""
    if table is None:
        table = os.environ.get("DNAS_NB201_TABLE")
        if not table:
            raise DnasError(1, "query: no table (pass table= or set DNAS_NB201_TABLE)")
    r = _lib.NB201Result()
    _check(lib.dnas_nb201_query(_b(os.fspath(table)), _b(arch), ctypes.byref(r)))
    return _bench_dict(r)
