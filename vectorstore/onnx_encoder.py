"""Run a sentence-transformers model with ONNX Runtime instead of torch.

On this project's 2-core CPUs ONNX Runtime runs the default model ~1.2-2x faster than torch with
the same vectors (cosine 1.0000, ``bench/embed_bench.py``). A model is exported once per weights
hash into its own folder: ``model.onnx`` (token ids + attention mask -> token states),
``tokenizer.json`` and ``spec.json`` (pooling, normalisation, window, prompts). Loading an export
needs neither torch nor sentence-transformers, so a prepared model starts fast and light.

Only the common shape is exported: a Transformer, a mean or CLS Pooling, an optional Normalize.
``exportable`` says why another model is not, and the embedder then runs it with torch.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SPEC_FILE = "spec.json"
BATCH_TOKENS = 512
"""Token budget per ONNX Runtime call: small activations stay in cache; measured on 2 cores,
~4 texts of ~70 tokens or one of 512 per call beat batches of 32 by 15-40%."""


@dataclass(frozen=True)
class OnnxSpec:
    pooling: str  # "mean" or "cls"
    normalize: bool
    max_tokens: int
    dimension: int
    query_prompt: str
    document_prompt: str
    int8: bool
    pad_id: int


def exportable(model) -> str | None:
    """None when ``model`` (a SentenceTransformer) can be exported, else the reason it cannot."""
    modules = list(model)
    kinds = [type(m).__name__ for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        return f"modules {' -> '.join(kinds)} (only Transformer -> Pooling -> Normalize)"
    mode = _pooling_mode(modules[1])
    if mode not in ("mean", "cls"):
        return f"pooling {mode!r} (only 'mean' and 'cls')"
    if not getattr(modules[1], "include_prompt", True):
        return "pooling leaves the prompt out"
    if getattr(modules[0].tokenizer, "backend_tokenizer", None) is None:
        return "no fast (Rust) tokenizer"
    return None


def _pooling_mode(pooling) -> str:
    mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers >= 6
    return mode if isinstance(mode, str) else pooling.get_pooling_mode_str()


def export(
    model, folder: Path, *, dimension: int, query_prompt: str, document_prompt: str, int8: bool
) -> Path:
    """Write ``model``'s export into ``folder`` atomically (a killed run leaves nothing behind)
    under a file lock, once; returns ``folder``. ``int8`` stores dynamically quantised weights,
    except each layer's feed-forward output projection (see ``_quantize``)."""
    from filelock import FileLock

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / SPEC_FILE).is_file():
            return folder
        for stale in folder.parent.glob(f".{folder.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            _write_export(model, tmp, dimension, query_prompt, document_prompt, int8)
            for path in (tmp, *tmp.iterdir()):
                path.chmod(0o755 if path.is_dir() else 0o644)
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _write_export(
    model, out: Path, dimension: int, query_prompt: str, document_prompt: str, int8: bool
) -> None:
    import torch

    transformer, pooling = model[0], model[1]
    bert = transformer.auto_model

    class TokenStates(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = transformer.tokenizer(["passage: a b", "c"], padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "tokens"}
    fp32 = out / ("model-fp32.onnx" if int8 else "model.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenStates().eval(),
            (sample["input_ids"], sample["attention_mask"]),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["token_states"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_states": axes},
            opset_version=17,
            dynamo=False,
        )
    if int8:
        _quantize(fp32, out / "model-int8.onnx")
        fp32.unlink()
    _externalise(next(out.glob("model*.onnx")), out / "model.onnx")
    transformer.tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    spec = OnnxSpec(
        pooling=_pooling_mode(pooling),
        normalize=len(model) > 2,
        max_tokens=int(model.max_seq_length),
        dimension=int(dimension),
        query_prompt=query_prompt,
        document_prompt=document_prompt,
        int8=int8,
        pad_id=int(transformer.tokenizer.pad_token_id or 0),
    )
    (out / SPEC_FILE).write_text(json.dumps(asdict(spec), indent=1), encoding="utf-8")


def _externalise(source: Path, target: Path) -> None:
    """Re-save with the weights in ``model.onnx.data``, which ONNX Runtime maps from disk instead
    of copying: a session then holds ~150 MB of the default model rather than ~1.1 GB (most of the
    weights are the 250k-row token embedding table, of which a text touches a few rows)."""
    import onnx

    model = onnx.load(str(source))
    source.unlink()
    onnx.save_model(
        model,
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=target.name + ".data",
        size_threshold=1024,
    )


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8 (per-channel weights) for every MatMul but each layer's feed-forward output:
    its input, after GELU, has outliers that a per-batch activation scale handles badly (PIAF
    hit@5 -2.6 points with it quantised, -0.4 to -0.8 without)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    keep = [
        n.name
        for n in graph.node
        if n.op_type == "MatMul" and "/output/dense" in n.name and "attention" not in n.name
    ]
    # The quantizer logs advice through logging.warning(), which also configures the root
    # logger when it has no handler: a NullHandler and a raised level keep both away.
    root, quiet = logging.getLogger(), logging.NullHandler()
    level = root.level
    root.addHandler(quiet)
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=keep,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.removeHandler(quiet)
        root.setLevel(level)


class OnnxEncoder:
    """Token counts and pooled vectors from an export; thread-safe (ONNX Runtime sessions are)."""

    def __init__(self, folder: Path, threads: int, *, max_tokens: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.spec = OnnxSpec(**json.loads((folder / SPEC_FILE).read_text(encoding="utf-8")))
        self.max_tokens = min(max_tokens or self.spec.max_tokens, self.spec.max_tokens)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens of each text, special tokens included, before truncation to the window."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids cut to the window as Hugging Face truncation does: the text's tokens are cut,
        the special tokens around them kept. (One tokenizer does counting and truncation: the
        default model's takes ~280 MB.)"""
        out = []
        for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=True):
            ids = e.ids
            if len(ids) > self.max_tokens:
                trail = next((i for i, m in enumerate(reversed(e.special_tokens_mask)) if not m), 0)
                ids = ids[: self.max_tokens - trail] + ids[len(ids) - trail :]
            out.append(ids)
        return out

    def encode(self, texts: list[str]) -> np.ndarray:
        """One float32 row per text (truncated to the window), pooled (and normalised if the model
        does), in input order."""
        ids = self._token_ids(texts)
        out = np.zeros((len(ids), self.spec.dimension), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        start = 0
        while start < len(order):
            width = len(ids[order[start]])
            size = max(1, BATCH_TOKENS // max(width, 1))
            batch = order[start : start + size]
            out[batch] = self._run([ids[i] for i in batch], width)
            start += size
        return out

    def _run(self, rows: list[list[int]], width: int) -> np.ndarray:
        input_ids = np.full((len(rows), width), self.spec.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            input_ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        (states,) = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})
        if self.spec.pooling == "cls":
            vectors = states[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            vectors = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self.spec.normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors
