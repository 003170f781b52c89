"""Finds and loads libdnas, and declares the C signatures used by the package."""
import ctypes
import os

SONAME = "libdnas.so.0"


def _candidates():
    env = os.environ.get("DNAS_LIB")
    if env:
        # A file, or a directory holding the library: $DNAS_LIB is taken as given, never
        # silently replaced by another copy.
        yield os.path.join(env, SONAME) if os.path.isdir(env) else env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for name in (SONAME, "libdnas.so"):
        yield os.path.join(here, name)
    repo = os.path.dirname(os.path.dirname(here))  # python/dnas -> the repository
    build = os.environ.get("BUILD", "build")
    for b in dict.fromkeys((build, "build")):
        base = b if os.path.isabs(b) else os.path.join(repo, b)
        yield os.path.join(base, SONAME)


def _load():
    tried = []
    for path in _candidates():
        if os.path.exists(path):
            return ctypes.CDLL(path), path
        tried.append(path)
    raise ImportError(
        "dnas: cannot find the shared library (looked at %s); build it with `make` (and "
        "`make python` to copy it into the package) or set DNAS_LIB to its path" % ", ".join(tried))


lib, path = _load()

c_int, c_long, c_size_t, c_char_p, c_void_p, c_double = (
    ctypes.c_int, ctypes.c_long, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_double)
c_float_p = ctypes.POINTER(ctypes.c_float)
LOG_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)


class NB201Result(ctypes.Structure):
    _fields_ = [("index", c_int), ("c10_valid", c_double), ("c10_test", c_double),
                ("c100_valid", c_double), ("c100_test", c_double), ("in16_valid", c_double),
                ("in16_test", c_double)]


class SearchResult(ctypes.Structure):
    _fields_ = [("arch", ctypes.c_char * 1024), ("train_acc", c_double), ("valid_acc", c_double),
                ("train_loss", c_double), ("valid_loss", c_double), ("epochs_done", c_int),
                ("seconds", c_double), ("select", ctypes.c_char * 16), ("dir", ctypes.c_char * 512)]


class SelectResult(ctypes.Structure):
    _fields_ = [("arch", ctypes.c_char * 1024), ("has_bench", c_int), ("bench", NB201Result),
                ("seconds", c_double)]


def _sig(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


_sig("dnas_version", c_char_p)
_sig("dnas_status_string", c_char_p, c_int)
_sig("dnas_last_error", c_char_p)
_sig("dnas_clear_error", None)
_sig("dnas_set_log_callback", None, LOG_FN, c_void_p)
_sig("dnas_search_config_new", c_int, c_char_p, ctypes.POINTER(c_void_p))
_sig("dnas_search_config_free", None, c_void_p)
_sig("dnas_search_config_set", c_int, c_void_p, c_char_p, c_char_p)
_sig("dnas_search_config_preset", c_int, c_void_p, c_char_p)
_sig("dnas_search_config_json", c_int, c_void_p, c_char_p, c_size_t)
_sig("dnas_session_open", c_int, c_void_p, ctypes.POINTER(c_void_p))
_sig("dnas_session_open_resume", c_int, c_char_p, c_int, ctypes.POINTER(c_void_p))
_sig("dnas_session_step", c_int, c_void_p, c_long)
_sig("dnas_session_run_epoch", c_int, c_void_p)
_sig("dnas_session_interrupt", None, c_void_p)
for _name in ("epoch", "epoch_step", "steps_per_epoch", "epochs", "done"):
    _sig("dnas_session_" + _name, c_int, c_void_p)
_sig("dnas_session_total_steps", c_long, c_void_p)
_sig("dnas_session_dir", c_char_p, c_void_p)
_sig("dnas_session_config", c_void_p, c_void_p)
_sig("dnas_session_alpha_shape", None, c_void_p, ctypes.POINTER(c_int), ctypes.POINTER(c_int),
     ctypes.POINTER(c_int))
_sig("dnas_session_get_alpha", c_int, c_void_p, c_float_p, c_size_t)
_sig("dnas_session_set_alpha", c_int, c_void_p, c_float_p, c_size_t)
_sig("dnas_session_get_weights", c_int, c_void_p, c_float_p, c_size_t)
_sig("dnas_session_genotype", c_int, c_void_p, c_char_p, c_size_t)
_sig("dnas_session_save", c_int, c_void_p)
_sig("dnas_session_finish", c_int, c_void_p, ctypes.POINTER(SearchResult),
     ctypes.POINTER(SelectResult))
_sig("dnas_session_close", None, c_void_p)
_sig("dnas_nb201_query", c_int, c_char_p, c_char_p, ctypes.POINTER(NB201Result))

DNAS_OK = 0
DNAS_ERR_INTERRUPTED = 7
