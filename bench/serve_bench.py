"""Serving cost: what ``rag serve`` adds to answering, through its OpenAI-compatible API, next to
the same questions answered in process.

On the same questions (default 50), at each concurrency (default 1, 4 and 16: that many threads,
each sending its next question as soon as it has an answer):

* ``rag.ask``: in process, one ``RAG`` shared by the threads: latency of the answer;
* ``/v1 completion``: ``POST /v1/chat/completions`` (model ``rag-cite``, non-streaming) to a
  ``rag serve`` subprocess on a free loopback port, with an API key: latency of the full body;
* ``rag.stream 1st``: in process, time to the first text piece of ``rag.stream``;
* ``/v1 stream 1st``: the same request with ``stream: true``: time to the first chunk whose
  ``delta`` has non-empty content (the stream is then read to ``[DONE]``);

at c=1 the four take turns ``TURN`` questions at a time (so that a shared machine's changing load
weighs on them alike; not one question at a time: after a call torch's OpenMP threads spin for
~20 ms, which would slow the next call if it ran in the other process); above c=1 each runs all
the questions in its turn. Before any timing, every question is answered once on both sides (the
extractive answerer remembers sentence vectors: both caches then hold the same sentences).

p50 and p95 latency, requests per second (questions / wall time) and errors (an exception, a
status other than 200, a body without its choice, an error event, a stream without ``[DONE]``).
The client is the standard library's ``http.client``, one kept-alive connection per thread, so
that what is timed is the service and the loopback rather than a client library's own work
(``--breakdown`` shows the same completion through ``httpx``, the OpenAI SDK's client). Every
configuration runs ``--repeat`` times (default 3), the runs interleaved; printed: the medians of
the runs' figures, and the errors of all runs. The client runs on the server's machine (on 2 cores
it takes part of the CPU the server would have).

Ratios against targets: ``/v1`` completion p50 at c=1 over ``rag.ask``'s (<= 1.15), ``/v1``
completion throughput at the highest concurrency over c=1 (>= 1.6 on 2 cores), errors (0).
``cores``: CPU seconds over wall seconds of the process that answers (the server's for ``/v1``, read
from /proc; this one's in process), and ``client cores`` this process's while it sends (``/v1``).
``--breakdown`` adds where a c=1 request's time goes: in process, retrieval, the answerer, the
completion's serialisation and its JSON, and one encoding of the question (which the retrieval and
the extractive answerer each do); over HTTP, a request that does nothing (``GET /v1/models``).

Questions: ../shared/eval/piaf-fr-dev (a seeded sample) when present, else tests/data/eval
(villes-fr and harbours-en, cycled to the number asked), so that it runs anywhere. The data dir is
ingested once under bench/out/serve_bench/ and reused (re-ingesting unchanged files is a no-op);
the server gets a copy of it, so the two processes never share one store.

Run from the repository root:
  python -m bench.serve_bench [--questions 50] [--concurrency 1,4,16] [--repeat 3] [--breakdown]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
FALLBACK = ROOT / "tests" / "data" / "eval"
OUT = ROOT / "bench" / "out" / "serve_bench"
TARGETS = {"p50_ratio": 1.15, "scaling": 1.6, "errors": 0}
MODES = ["rag.ask", "/v1 completion", "rag.stream 1st", "/v1 stream 1st"]
TURN = 10
"""Questions each mode answers in its turn at c=1."""


# -- questions and the data dir --------------------------------------------------------------
def question_set(eval_dir: Path, n: int) -> tuple[str, list[Path], list[str]]:
    """(name, docs folders, n questions): PIAF dev when present, else the tests' two sets."""
    from rag.evaluate import load_questions

    piaf = eval_dir / "piaf-fr-dev"
    if (piaf / "questions.jsonl").is_file():
        questions = [q["question"] for q in load_questions(piaf, limit=n, seed=0)]
        return "piaf-fr-dev", [piaf / "docs"], questions
    sets = [FALLBACK / "villes-fr", FALLBACK / "harbours-en"]
    questions = [q["question"] for s in sets for q in load_questions(s)]
    distinct = len(questions)
    name = f"tests/data/eval ({distinct} distinct" + (", cycled)" if n > distinct else ")")
    return name, [s / "docs" for s in sets], list(itertools.islice(itertools.cycle(questions), n))


def prepared_data_dir(name: str, docs: list[Path]) -> Path:
    """The data dir of ``docs``, ingested once (later runs find nothing changed)."""
    from rag import RAG

    data = OUT / name.split()[0].replace("/", "-")
    t0 = time.perf_counter()
    with RAG(data_dir=data) as rag:
        report = rag.ingest([str(d) for d in docs])
    if report.failed:
        raise SystemExit(f"ingest failed: {report.failed}")
    print(f"  data dir {data.relative_to(ROOT)}: {len(report.added)} added, {len(report.unchanged)} "
          f"unchanged, {report.chunks} chunks written ({time.perf_counter() - t0:.1f} s)")
    return data


# -- the server ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`rag --data-dir DIR serve --port P --api-key KEY` as a subprocess."""

    def __init__(self, data: Path, log: Path):
        self.port, self.key = free_port(), secrets.token_urlsafe(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rag", "--data-dir", str(data), "serve", "--port", str(self.port),
                 "--api-key", self.key], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.key}"}

    def wait_ready(self, client, timeout: float = 180.0) -> float:
        import httpx

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"`rag serve` exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if client.get(f"{self.url}/api/health", headers=self.headers, timeout=5).status_code == 200:
                    return time.monotonic() - t0
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"`rag serve` not ready after {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- one call of each mode: (seconds to the answer, seconds to its first content) ------------
class BadAnswer(Exception):
    pass


def in_process_ask(rag, question: str) -> tuple[float, None]:
    t0 = time.perf_counter()
    answer = rag.ask(question)
    if not answer.text:
        raise BadAnswer("empty answer")
    return time.perf_counter() - t0, None


def in_process_stream(rag, question: str) -> tuple[float, float]:
    from rag.types import Answer

    t0, first = time.perf_counter(), None
    for piece in rag.stream(question):
        if first is None and (piece.text if isinstance(piece, Answer) else piece):
            first = time.perf_counter() - t0
    if first is None:
        raise BadAnswer("no text")
    return time.perf_counter() - t0, first


class Http:
    """POSTs of JSON to the server: one kept-alive ``http.client`` connection per thread."""

    def __init__(self, server: Server):
        self.server, self.local = server, threading.local()

    def post(self, path: str, body: dict):
        """The response to a POST; a kept-alive connection that the server closed meanwhile
        (uvicorn closes idle ones after 5 s) is opened again, once, as any HTTP client does."""
        import http.client

        payload = json.dumps(body).encode()
        headers = {**self.server.headers, "Content-Type": "application/json"}
        reused = getattr(self.local, "conn", None) is not None
        while True:
            if getattr(self.local, "conn", None) is None:
                self.local.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=300)
            conn = self.local.conn
            try:
                conn.request("POST", path, body=payload, headers=headers)
                return conn.getresponse()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                conn.close()
                self.local.conn = None
                if not reused:
                    raise
                reused = False


def served_completion(http: Http, question: str) -> tuple[float, None]:
    body = {"model": "rag-cite", "messages": [{"role": "user", "content": question}]}
    t0 = time.perf_counter()
    response = http.post("/v1/chat/completions", body)
    data = json.loads(response.read())
    seconds = time.perf_counter() - t0
    if response.status != 200:
        raise BadAnswer(f"{response.status}: {str(data)[:200]}")
    if not data["choices"][0]["message"]["content"] or "rag" not in data["choices"][0]["message"]:
        raise BadAnswer("a completion without content or citations")
    return seconds, None


def served_stream(http: Http, question: str) -> tuple[float, float]:
    body = {"model": "rag-cite", "messages": [{"role": "user", "content": question}], "stream": True}
    t0, first, done = time.perf_counter(), None, False
    response = http.post("/v1/chat/completions", body)
    if response.status != 200:
        raise BadAnswer(f"{response.status}: {response.read()[:200]!r}")
    for raw in iter(response.readline, b""):
        line = raw.decode().rstrip("\r\n")
        if not line.startswith("data: "):
            continue
        payload = line[6:]
        if payload == "[DONE]":
            done = True
            break
        chunk = json.loads(payload)
        if "error" in chunk:
            raise BadAnswer(f"error event: {chunk['error']['message']}")
        if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            first = time.perf_counter() - t0
    response.read()  # the end of the chunked body, so the connection can be used again
    if first is None or not done:
        raise BadAnswer("a stream without content" if first is None else "a stream without [DONE]")
    return time.perf_counter() - t0, first


def httpx_completion(client, server: Server, question: str) -> float:
    body = {"model": "rag-cite", "messages": [{"role": "user", "content": question}]}
    t0 = time.perf_counter()
    client.post(f"{server.url}/v1/chat/completions", json=body, headers=server.headers).json()
    return time.perf_counter() - t0


# -- runs ------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def run(call, questions: list[str], concurrency: int, answerer_cpu=own_cpu_seconds) -> dict:
    """All ``questions`` through ``call`` from ``concurrency`` threads; ``answerer_cpu``: the CPU
    seconds so far of the process that answers."""
    errors: list[str] = []

    def one(question: str):
        try:
            return call(question)
        except Exception as exc:  # counted, and the first one shown
            errors.append(f"{type(exc).__name__}: {exc}")
            return None

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        cpu0, own0, t0 = answerer_cpu(), own_cpu_seconds(), time.perf_counter()
        results = [r for r in pool.map(one, questions) if r is not None]
        wall = time.perf_counter() - t0
        cpu, own = answerer_cpu() - cpu0, own_cpu_seconds() - own0
    return summary(results, errors, len(questions), wall, cpu, own if answerer_cpu is not own_cpu_seconds else None)


def run_in_turns(calls: dict, questions: list[str]) -> dict[str, dict]:
    """Concurrency 1, the modes taking turns ``TURN`` questions at a time, in a rotating order."""
    timed = {mode: {"results": [], "errors": [], "wall": 0.0, "cpu": 0.0, "own": 0.0} for mode in calls}
    modes = list(calls)
    for turn, start in enumerate(range(0, len(questions), TURN)):
        for mode in modes[turn % len(modes):] + modes[: turn % len(modes)]:
            call, answerer_cpu = calls[mode]
            t = timed[mode]
            cpu0, own0, t0 = answerer_cpu(), own_cpu_seconds(), time.perf_counter()
            for question in questions[start: start + TURN]:
                try:
                    t["results"].append(call(question))
                except Exception as exc:
                    t["errors"].append(f"{type(exc).__name__}: {exc}")
            t["wall"] += time.perf_counter() - t0
            t["cpu"] += answerer_cpu() - cpu0
            t["own"] += own_cpu_seconds() - own0
    return {mode: summary(t["results"], t["errors"], len(questions), t["wall"], t["cpu"],
                          t["own"] if calls[mode][1] is not own_cpu_seconds else None)
            for mode, t in timed.items()}


def summary(results: list[tuple], errors: list[str], asked: int, wall: float, cpu: float,
            own: float | None) -> dict:
    # streams: the time to the first content is what is measured; their full time is not shown
    measured = [first if first is not None else total for total, first in results] or [float("nan")]
    return {"p50": statistics.median(measured), "p95": percentile(measured, 0.95),
            "rps": asked / wall, "cores": cpu / wall, "client": None if own is None else own / wall,
            "errors": len(errors), "first_error": errors[0] if errors else None}


def median_of(runs: list[dict]) -> dict:
    out = {key: statistics.median(r[key] for r in runs) for key in ("p50", "p95", "rps", "cores")}
    out["client"] = statistics.median(r["client"] for r in runs) if runs[0]["client"] is not None else None
    out["errors"] = sum(r["errors"] for r in runs)
    out["first_error"] = next((r["first_error"] for r in runs if r["first_error"]), None)
    return out


def table(results: dict, concurrency: int) -> str:
    width = 16
    lines = [f"  c={concurrency:<10}" + "".join(f"{m:>{width}}" for m in MODES)]
    for key, label, fmt in (("p50", "p50 ms", "{:.1f}"), ("p95", "p95 ms", "{:.1f}"),
                            ("rps", "req/s", "{:.2f}"), ("errors", "errors", "{}"),
                            ("cores", "cores", "{:.2f}"), ("client", "client cores", "{:.2f}")):
        cells = []
        for m in MODES:
            value = results[(m, concurrency)][key]
            text = "-" if value is None else fmt.format(value * 1000 if key in ("p50", "p95") else value)
            cells.append(text.rjust(width))
        lines.append(f"  {label:<12}" + "".join(cells))
    return "\n".join(lines)


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# -- where the time goes ---------------------------------------------------------------------
def breakdown(rag, questions: list[str], client, server: Server) -> None:
    """In process, at c=1: retrieval, the answerer, and the completion's serialisation
    (``Turn.completion``: citation links, annotations, usage token counts) and its JSON; over
    HTTP, a request the server answers without work (``GET /v1/models``, key checked)."""
    from ui.serve.openai_api import Turn

    parts: dict[str, list[float]] = {"retrieve": [], "answer": [], "completion dict": [], "json.dumps": [],
                                     "question encoding": []}
    for question in questions:
        t = time.perf_counter()
        rag.embedder.encode([question], query=True)  # remembered: the retrieval and the answerer reuse it
        parts["question encoding"].append(time.perf_counter() - t)
        t0 = time.perf_counter()
        passages = rag.retrieve(question)
        t1 = time.perf_counter()
        *_, answer = rag.answerer.stream(question, passages)
        t2 = time.perf_counter()
        completion = Turn(rag, "http://127.0.0.1:8000/", question).completion(answer)
        t3 = time.perf_counter()
        json.dumps(completion, ensure_ascii=False)
        t4 = time.perf_counter()
        for key, seconds in zip(list(parts)[:4], (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            parts[key].append(seconds)
    floor = []
    for _ in questions:
        t0 = time.perf_counter()
        client.get(f"{server.url}/v1/models", headers=server.headers).json()
        floor.append(time.perf_counter() - t0)
    through_httpx = [httpx_completion(client, server, q) for q in questions]
    print("  c=1, median ms: " + ", ".join(f"{k} {statistics.median(v) * 1000:.2f}" for k, v in parts.items())
          + f"; over HTTP with httpx: GET /v1/models {statistics.median(floor) * 1000:.2f}, "
          f"/v1 completion {statistics.median(through_httpx) * 1000:.2f}")


# -- main ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=50, help="questions per run (default 50)")
    parser.add_argument("--concurrency", default="1,4,16", help="concurrencies (default 1,4,16)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration (default 3)")
    parser.add_argument("--eval", type=Path, default=EVAL, help="folder holding piaf-fr-dev")
    parser.add_argument("--breakdown", action="store_true", help="also show where a request's time goes")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]

    import httpx

    from rag import RAG

    name, docs, questions = question_set(args.eval, args.questions)
    one_load = os.getloadavg()
    print(f"# serve_bench: {len(questions)} questions from {name}, concurrency {concurrencies}, "
          f"{args.repeat} run(s) each; {os.cpu_count()} CPUs, load {one_load[0]:.2f}")
    OUT.mkdir(parents=True, exist_ok=True)
    data = prepared_data_dir(name, docs)
    served = OUT / "served-data"
    shutil.rmtree(served, ignore_errors=True)
    shutil.copytree(data, served)

    rag = RAG(data_dir=data)
    client = httpx.Client(timeout=300)  # readiness and the breakdown
    server = Server(served, OUT / "serve.log")
    try:
        print(f"  rag serve ready after {server.wait_ready(client):.1f} s on {server.url}")
        http = Http(server)
        calls = {"rag.ask": (lambda q: in_process_ask(rag, q), own_cpu_seconds),
                 "/v1 completion": (lambda q: served_completion(http, q), server.cpu_seconds),
                 "rag.stream 1st": (lambda q: in_process_stream(rag, q), own_cpu_seconds),
                 "/v1 stream 1st": (lambda q: served_stream(http, q), server.cpu_seconds)}
        for mode, (call, cpu) in calls.items():  # warm up: models loaded, caches full, connections open
            run(call, questions if mode in ("rag.ask", "/v1 completion") else questions[: max(concurrencies)],
                max(concurrencies), cpu)
        runs: dict[tuple[str, int], list[dict]] = {}
        for _ in range(args.repeat):
            for concurrency in concurrencies:
                if concurrency == 1:
                    for mode, result in run_in_turns(calls, questions).items():
                        runs.setdefault((mode, 1), []).append(result)
                    continue
                for mode, (call, cpu) in calls.items():
                    runs.setdefault((mode, concurrency), []).append(run(call, questions, concurrency, cpu))
        results = {key: median_of(value) for key, value in runs.items()}

        print(f"\n  medians of {args.repeat} run(s); latency: p50/p95 of the answer (completion, "
              "rag.ask) or of the first content (stream)")
        for concurrency in concurrencies:
            print(table(results, concurrency))
        low, high = concurrencies[0], concurrencies[-1]
        ratio = results[("/v1 completion", low)]["p50"] / results[("rag.ask", low)]["p50"]
        scaling = results[("/v1 completion", high)]["rps"] / results[("/v1 completion", low)]["rps"]
        in_scaling = results[("rag.ask", high)]["rps"] / results[("rag.ask", low)]["rps"]
        first = results[("/v1 stream 1st", low)]["p50"] / results[("rag.stream 1st", low)]["p50"]
        errors = sum(r["errors"] for key, r in results.items() if key[0].startswith("/v1"))
        print(f"\n  /v1 completion p50 / rag.ask p50 at c={low}: {ratio:.2f}x "
              f"(target <= {TARGETS['p50_ratio']}x: {mark(ratio <= TARGETS['p50_ratio'])})")
        print(f"  /v1 completion req/s at c={high} / c={low}: {scaling:.2f}x "
              f"(target >= {TARGETS['scaling']}x: {mark(scaling >= TARGETS['scaling'])}); "
              f"rag.ask in process: {in_scaling:.2f}x")
        print(f"  /v1 stream first content / rag.stream first piece at c={low}: {first:.2f}x")
        print(f"  errors over all /v1 runs: {errors} (target 0: {mark(errors == TARGETS['errors'])})")
        for key, r in results.items():
            if r["first_error"]:
                print(f"    {key[0]} c={key[1]}: {r['errors']} errors, first: {r['first_error']}")

        if args.breakdown:
            print("\n# where the time goes")
            breakdown(rag, questions, client, server)
    finally:
        server.stop()
        client.close()
        rag.close()
    print(f"  [load after: {os.getloadavg()[0]:.2f}]")


if __name__ == "__main__":
    main()
