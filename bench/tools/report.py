#!/usr/bin/env python3
"""Turns the raw files written by bench/run.sh into latest.md (+ chart via gnuplot) and prints it.

Raw inputs (in --raw): meta.tsv, throughput.tsv, memory.tsv, callgrind.tsv, callgrind/*.txt.
Can be re-run on committed raw data: bench/tools/report.py --raw bench/results/raw --out bench/results
"""
import argparse
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

PROXY_ORDER = ["nginx", "haproxy", "sluice"]
TARGET_LABEL = {"backend": "backend alone", "nginx": "nginx", "haproxy": "HAProxy", "sluice": "sluice"}


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def short_name(name):
    """Shortens a C++ symbol from callgrind_annotate: drops the file prefix and object suffix, nested
    template arguments (depth >= 2) and parameter lists, and trims the middle of what is left."""
    name = re.sub(r"^\S*?:(?=[A-Za-z_~(])", "", name, count=1) if name.startswith(("???:", "./", "/")) else name
    name = re.sub(r" \[[^\]]*\]$", "", name)
    out, angle, paren = [], 0, 0
    for i, ch in enumerate(name):
        if paren > 0:  # inside a parameter list: dropped
            paren += {"(": 1, ")": -1}.get(ch, 0)
            continue
        is_op = name[max(0, i - 8):i].endswith("operator") or name[max(0, i - 9):i].endswith("operator-")
        if ch == "<" and not is_op:
            angle += 1
            if angle == 2:
                out.append("<…>")
            if angle >= 2:
                continue
        elif ch == ">" and angle > 0 and not is_op:
            angle -= 1
            if angle >= 1:
                continue
        elif angle >= 2:
            continue
        elif ch == "(" and angle == 0:
            paren = 1
            out.append("()" if name[i + 1:i + 2] == ")" else "(…)")
            continue
        out.append(ch)
    text = re.sub(r"^decltype \(…\) ", "", "".join(out)).replace("operator()()(…)", "operator()(…)")
    return text if len(text) <= 120 else text[:55] + " … " + text[-60:]


def top_functions(path, limit):
    """(Ir, percent, name) rows of a saved callgrind_annotate listing, biggest first."""
    rows, started = [], False
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            if line.strip().endswith("file:function"):
                started = True
                continue
            m = re.match(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S.*)$", line.rstrip("\n"))
            if started and m and "PROGRAM TOTALS" not in m.group(3):
                rows.append((int(m.group(1).replace(",", "")), float(m.group(2)), m.group(3)))
    return rows[:limit]


def read_meta(path):
    meta = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("\t")
                meta[k] = v
    return meta


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def ordered(targets):
    return [t for t in PROXY_ORDER + ["backend"] if t in targets] + sorted(
        t for t in targets if t not in PROXY_ORDER + ["backend"])


class Throughput:
    """Per (section, scenario, target): lists over rounds of the derived metrics."""

    def __init__(self, rows, hz):
        self.runs = defaultdict(list)
        self.scenarios = {}  # scenario -> section, in first-seen order
        for r in rows:
            req = int(r["requests"] or 0)
            dur_s = int(r["duration_us"] or 1) / 1e6
            ticks_s = dur_s * hz
            errors = sum(int(r[k] or 0) for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
            own = int(r["target_ticks"]) if r["target"] != "backend" else 0
            m = {
                "rps": req / dur_s if dur_s else 0,
                "p50": int(r["p50_us"] or 0) / 1000,
                "p99": int(r["p99_us"] or 0) / 1000,
                "cpu": int(r["target_ticks"]) * 1e6 / hz / req if req else None,
                "backend_cpu": int(r["backend_ticks"]) * 1e6 / hz / req if req else None,
                "accepts": int(r["upstream_accepts"]),
                "backend_share": int(r["backend_requests"]) / req if req else None,
                "errors": errors,
                "foreign": min(100.0, max(0.0, (int(r["proxy_core_busy"]) - own) / ticks_s * 100)) if ticks_s else None,
                "steal": int(r["proxy_core_steal"]) / ticks_s * 100 if ticks_s else None,
                "requests": req,
            }
            key = (r["section"], r["scenario"], r["target"])
            self.runs[key].append(m)
            self.scenarios.setdefault(r["scenario"], r["section"])

    def get(self, scenario, target, metric):
        section = self.scenarios.get(scenario)
        runs = self.runs.get((section, scenario, target), [])
        if metric == "errors":
            return sum(m["errors"] for m in runs) if runs else None
        return med([m[metric] for m in runs])

    def targets(self, scenario):
        section = self.scenarios[scenario]
        return ordered({t for (s, sc, t) in self.runs if s == section and sc == scenario})

    def all_values(self, metric):
        return [m[metric] for runs in self.runs.values() for m in runs if m[metric] is not None]


def throughput_table(tp, scenarios):
    out = ["| scenario | target | req/s | ×nginx | p50 ms | ×nginx | p99 ms | ×nginx | CPU µs/req | ×nginx "
           "| upstream conns opened | errors |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for sc in scenarios:
        for t in tp.targets(sc):
            g = lambda m, t=t: tp.get(sc, t, m)  # noqa: E731
            n = lambda m: tp.get(sc, "nginx", m)  # noqa: E731
            cpu_note = " (backend's own)" if t == "backend" else ""
            accepts = "–" if t == "backend" else fmt(g("accepts"), ".0f")
            out.append(
                f"| {sc} | {TARGET_LABEL.get(t, t)} | {fmt(g('rps'), ',.0f')} | {ratio(g('rps'), n('rps'))} "
                f"| {fmt(g('p50'), '.2f')} | {ratio(g('p50'), n('p50'))} | {fmt(g('p99'), '.2f')} "
                f"| {ratio(g('p99'), n('p99'))} | {fmt(g('cpu'), '.2f')}{cpu_note} | "
                f"{'–' if t == 'backend' else ratio(g('cpu'), n('cpu'))} | {accepts} | {g('errors')} |")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--chart", help="gnuplot script; skipped when gnuplot is missing")
    args = ap.parse_args()

    meta = read_meta(os.path.join(args.raw, "meta.tsv"))
    hz = int(meta.get("clk_tck", "100"))
    tp = Throughput(read_tsv(os.path.join(args.raw, "throughput.tsv")), hz)
    mem = read_tsv(os.path.join(args.raw, "memory.tsv"))
    cg = read_tsv(os.path.join(args.raw, "callgrind.tsv"))
    main_sc = [s for s, sec in tp.scenarios.items() if sec == "main"]
    proxies = [p for p in PROXY_ORDER if any(t == p for (_, _, t) in tp.runs)] or PROXY_ORDER

    md = []
    w = md.append
    w("# Sluice benchmark: side by side with nginx and HAProxy")
    w("")
    w(f"- Date: {meta.get('date', '?')}; total run time {meta.get('run_seconds', '?')} s "
      f"(of which building sluice {meta.get('build_seconds', '?')} s)")
    w(f"- Machine: {meta.get('machine', '?')}")
    w(f"- Versions: {meta.get('sluice', '?')}; {meta.get('nginx', '?')}; "
      f"HAProxy {meta.get('haproxy', '?')}; wrk {meta.get('wrk', '?')}; {meta.get('valgrind', '?')}")
    w(f"- Settings: {meta.get('settings', '?')}; {meta.get('layout', '')}")
    w(f"- Command: `bench/run.sh` (regenerate this file from raw/: "
      "`bench/tools/report.py --raw bench/results/raw --out bench/results`)")
    w("")
    foreign = tp.all_values("foreign")
    steal = tp.all_values("steal")
    w("**Noise.** This machine is shared (colleagues compile on the same 2 cores) and is a VM; the "
      "benchmark's processes ran at a raised priority (see *Settings*: nice) to limit that. "
      f"Load average {meta.get('load_start', '?')} at the start, {meta.get('load_end', '?')} after the wrk runs. "
      + (f"Other processes ran on the proxy core for a median {statistics.median(foreign):.0f}% "
         f"(max {max(foreign):.0f}%) of each wrk run, mostly in the time the proxy waits for the saturated "
         f"client core; steal time median {statistics.median(steal):.1f}%. " if foreign else "")
      + "Wall-clock numbers (req/s, latency) are therefore only comparable within this run; CPU per request "
      "is steadier, and callgrind instruction counts are deterministic.")
    w("")

    # ---- throughput
    w("## Throughput, latency and proxy CPU per request (wrk, medians over rounds)")
    w("")
    w("Ratios are to nginx in the same scenario (for req/s higher is better; for latency and CPU lower is "
      "better). *CPU µs/req* is the proxy's utime+stime (all its processes/threads) over the run divided by "
      "the requests wrk completed; for the *backend alone* row it is the backend's own CPU. *Upstream conns "
      "opened* is the number of TCP connections the backend accepted from the proxy during one run "
      "(0 = pure keep-alive reuse).")
    w("")
    md.extend(throughput_table(tp, main_sc))
    w("")

    # ---- memory
    w(f"## Memory per idle keep-alive connection")
    w("")
    if mem:
        w("| proxy | connections held | RSS before MiB | RSS after MiB | KiB per connection | ×nginx | notes |")
        w("|---|---:|---:|---:|---:|---:|---|")
        per = {}
        for r in mem:
            ok = int(r["ok"])
            delta = int(r["rss_after_kib"]) - int(r["rss_before_kib"])
            per[r["proxy"]] = delta / ok if ok else None
        for r in sorted(mem, key=lambda r: ordered([r["proxy"] for r in mem]).index(r["proxy"])):
            notes = []
            if int(r["failed"]):
                notes.append(f"{r['failed']} of {r['target']} failed: {r['errors']}")
            still = int(r["still_open"])
            if still >= 0 and still < int(r["ok"]):
                notes.append(f"only {still} still open when released")
            notes.append(f"opened in {r['open_seconds']} s; {r['held']} established at the proxy port")
            w(f"| {TARGET_LABEL.get(r['proxy'], r['proxy'])} | {int(r['ok']):,} of {int(r['target']):,} | "
              f"{int(r['rss_before_kib']) / 1024:.1f} | {int(r['rss_after_kib']) / 1024:.1f} | "
              f"{fmt(per[r['proxy']], '.2f')} | {ratio(per[r['proxy']], per.get('nginx'))} | {'; '.join(notes)} |")
    else:
        w("Skipped (SKIP_MEMORY=1).")
    w("")

    # ---- callgrind
    w("## Instructions per proxied request (callgrind)")
    w("")
    cgv = {}
    if cg:
        bodies = list(dict.fromkeys(r["body"] for r in cg))
        for r in cg:
            if r["status"] == "ok":
                cgv[(r["proxy"], r["body"])] = (int(r["ir_full_run"]) - int(r["ir_warmup_run"])) / int(r["requests"])
        head = "| proxy | " + " | ".join(f"Ir/request, {b} body | ×nginx" for b in bodies) + " |"
        w(head)
        w("|---|" + "---:|---:|" * len(bodies))
        for p in ordered({r["proxy"] for r in cg}):
            cells = []
            for b in bodies:
                v = cgv.get((p, b))
                status = next((r["status"] for r in cg if r["proxy"] == p and r["body"] == b), "")
                cells.append(f"{fmt(v, ',.0f') if v is not None else status} | {ratio(v, cgv.get(('nginx', b)))}")
            w(f"| {TARGET_LABEL.get(p, p)} | " + " | ".join(cells) + " |")
        for r in cg:
            if r["proxy"] != "sluice" or r["status"] != "ok":
                continue
            total_req = int(r["warmup"]) + int(r["requests"])
            for kind, suffix, limit in (("self cost (exclusive)", "", 15), ("inclusive cost", "-inclusive", 15)):
                rows = top_functions(os.path.join(args.raw, "callgrind", f"sluice-{r['body']}{suffix}.txt"), 100)
                # Inclusive: leave out the frames that hold everything (thread start, io_context::run).
                rows = [row for row in rows if row[1] < 90.0][:limit]
                if not rows:
                    continue
                w("")
                w(f"<details><summary>sluice, {r['body']} body: top {len(rows)} functions by {kind} "
                  f"(whole long run, {total_req:,} requests plus start-up)</summary>")
                w("")
                w("| Ir | % | ≈ Ir/request | function |")
                w("|---:|---:|---:|---|")
                for ir, pct, name in rows:
                    cell = short_name(name).replace("|", "\\|")
                    w(f"| {ir:,} | {pct:.1f} | {ir / total_req:,.0f} | `{cell}` |")
                w("")
                w("</details>")
    else:
        w("Skipped (SKIP_CALLGRIND=1).")
    w("")

    # ---- optional sections
    w("## Optional sections")
    w("")
    cache_sc = [s for s, sec in tp.scenarios.items() if sec == "cache"]
    w("### Cache-hit throughput")
    w("")
    if cache_sc:
        sc = cache_sc[0]
        base = "small-c50" if "small-c50" in tp.scenarios else None
        w("Same rounds as the table above; *×backend* compares with the backend alone on the same body and "
          "connection count. *Backend requests per request* near 0 shows the answers came from the cache.")
        w("")
        w("| proxy | cache-hit req/s | ×nginx | ×backend alone | p99 ms | ×nginx | CPU µs/req | ×nginx "
          "| backend requests per request | errors |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in tp.targets(sc):
            g = lambda m, t=t: tp.get(sc, t, m)  # noqa: E731
            n = lambda m: tp.get(sc, "nginx", m)  # noqa: E731
            w(f"| {TARGET_LABEL.get(t, t)} | {fmt(g('rps'), ',.0f')} | {ratio(g('rps'), n('rps'))} | "
              f"{ratio(g('rps'), tp.get(base, 'backend', 'rps') if base else None)} | {fmt(g('p99'), '.2f')} | "
              f"{ratio(g('p99'), n('p99'))} | {fmt(g('cpu'), '.2f')} | {ratio(g('cpu'), n('cpu'))} | "
              f"{fmt(g('backend_share'), '.3f')} | {g('errors')} |")
    else:
        w(f"Not measured: {meta.get('optional_cache', 'skipped')}. It turns on by itself once sluice "
          "accepts `bench/conf/sluice-cache.toml.in` and answers a repeated GET with `Cache-Status: …hit`.")
    w("")
    rl_sc = [s for s, sec in tp.scenarios.items() if sec == "ratelimit"]
    w("### Rate-limited route overhead")
    w("")
    if rl_sc:
        sc = rl_sc[0]
        base = "small-c50"
        w("A route with a rate limit that is never reached (1,000,000/s) against the plain route, same "
          "body and connections, same rounds: the difference is the cost of the limiter.")
        w("")
        w("| proxy | limited req/s | ×nginx | plain req/s | req/s change | limited CPU µs/req | ×nginx "
          "| plain CPU µs/req | overhead µs/req | errors (429s count here) |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in tp.targets(sc):
            lr, pr = tp.get(sc, t, "rps"), tp.get(base, t, "rps")
            lc, pc = tp.get(sc, t, "cpu"), tp.get(base, t, "cpu")
            change = f"{(lr / pr - 1) * 100:+.1f}%" if lr and pr else "–"
            over = f"{lc - pc:+.2f}" if lc is not None and pc is not None else "–"
            w(f"| {TARGET_LABEL.get(t, t)} | {fmt(lr, ',.0f')} | {ratio(lr, tp.get(sc, 'nginx', 'rps'))} | "
              f"{fmt(pr, ',.0f')} | {change} | {fmt(lc, '.2f')} | {ratio(lc, tp.get(sc, 'nginx', 'cpu'))} | "
              f"{fmt(pc, '.2f')} | {over} | {tp.get(sc, t, 'errors')} |")
    else:
        w(f"Not measured: {meta.get('optional_ratelimit', 'skipped')}. It turns on by itself once sluice "
          "accepts `bench/conf/sluice-ratelimit.toml.in` and sends RateLimit headers on that route.")
    w("")

    lua_sc = [s for s, sec in tp.scenarios.items() if sec == "lua"]
    w("### Lua filter overhead (sluice)")
    w("")
    if lua_sc and "small-c50" in tp.scenarios:
        sc = lua_sc[0]
        base = "small-c50"
        w("A route with a trivial Lua filter (`on_request` sets one request header, `on_response` one "
          "response header) against the plain route, same body and connections, same rounds: the "
          "difference is the cost of running a filter (LuaJIT interpreter, one coroutine per hook).")
        w("")
        w("| proxy | Lua req/s | plain req/s | req/s change | Lua CPU µs/req | plain CPU µs/req | overhead µs/req "
          "| p99 ms Lua / plain | errors |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in tp.targets(sc):
            lr, pr = tp.get(sc, t, "rps"), tp.get(base, t, "rps")
            lc, pc = tp.get(sc, t, "cpu"), tp.get(base, t, "cpu")
            change = f"{(lr / pr - 1) * 100:+.1f}%" if lr and pr else "–"
            over = f"{lc - pc:+.2f}" if lc is not None and pc is not None else "–"
            w(f"| {TARGET_LABEL.get(t, t)} | {fmt(lr, ',.0f')} | {fmt(pr, ',.0f')} | {change} | {fmt(lc, '.2f')} | "
              f"{fmt(pc, '.2f')} | {over} | {fmt(tp.get(sc, t, 'p99'), '.2f')} / {fmt(tp.get(base, t, 'p99'), '.2f')} | "
              f"{tp.get(sc, t, 'errors')} |")
    else:
        w(f"Not measured: {meta.get('optional_lua', 'skipped')}. It runs when `sluice -t` accepts "
          "`bench/conf/sluice-lua.toml.in` and the Lua route answers with `X-Lua: 1`.")
    w("")

    # ---- targets
    w("## Issue 3 targets, as measured in this run")
    w("")
    checks = []

    def check(label, ok, detail):
        checks.append(f"| {label} | {'–' if ok is None else ('met' if ok else 'NOT met')} | {detail} |")

    for sc in main_sc:
        s, n_, h = (tp.get(sc, p, "rps") for p in ("sluice", "nginx", "haproxy"))
        if s is not None and n_ and h:
            check(f"req/s ≥ nginx and HAProxy ({sc})", s >= n_ and s >= h,
                  f"sluice {s:,.0f}, nginx {n_:,.0f}, HAProxy {h:,.0f}")
        s99, n99 = tp.get(sc, "sluice", "p99"), tp.get(sc, "nginx", "p99")
        if s99 is not None and n99:
            check(f"p99 ≤ nginx ({sc})", s99 <= n99, f"{s99:.2f} ms vs {n99:.2f} ms")
        sc_, nc = tp.get(sc, "sluice", "cpu"), tp.get(sc, "nginx", "cpu")
        if sc_ is not None and nc:
            check(f"CPU/request ≤ nginx, aim 0.8× ({sc})", sc_ <= nc, f"{sc_:.2f} vs {nc:.2f} µs ({sc_ / nc:.2f}×)")
    for (p, b), v in sorted(cgv.items()):
        if p == "sluice" and cgv.get(("nginx", b)):
            nv = cgv[("nginx", b)]
            check(f"instructions/request ≤ nginx ({b} body)", v <= nv, f"{v:,.0f} vs {nv:,.0f} ({v / nv:.2f}×)")
    for r in mem:
        if r["proxy"] == "sluice":
            ok = int(r["ok"])
            kib = (int(r["rss_after_kib"]) - int(r["rss_before_kib"])) / ok if ok else None
            check("≤ 1 KiB RSS per idle keep-alive connection", kib is not None and kib <= 1.0,
                  f"{fmt(kib, '.2f')} KiB")
            check(f"{int(r['target']):,} concurrent connections held", ok >= int(r["target"]),
                  f"{ok:,} held, {r['failed']} failed")
    if cache_sc and "small-c50" in tp.scenarios:
        c, b = tp.get(cache_sc[0], "sluice", "rps"), tp.get("small-c50", "backend", "rps")
        if c is not None and b:
            check("cache-hit req/s ≥ backend alone", c >= b, f"{c:,.0f} vs {b:,.0f}")
    else:
        check("cache-hit req/s ≥ backend alone", None, "not measured (no cache in sluice yet)")
    w("| target | status | measured |")
    w("|---|---|---|")
    md.extend(checks)
    w("")

    # ---- method
    w("## Method")
    w("")
    w("- **Layout.** One nginx backend (1 worker) serving static files (`/small.txt` 12 bytes, `/4k.bin` "
      "4096 bytes) and wrk are pinned to one core; the proxy under test to the other (taskset). Each proxy "
      "has one worker (nginx `worker_processes 1`, HAProxy `nbthread 1`, sluice `workers = 1`) and upstream "
      "keep-alive (nginx `proxy_http_version 1.1`, `Connection \"\"`, `keepalive N`; HAProxy "
      "`http-reuse always`, its idle pool unbounded; sluice `keepalive = N`; N in *Settings*, at most N idle "
      "upstream connections are kept, so at 500 client connections nginx and sluice open and close "
      "upstream connections, see the column). Client- and upstream-side `keepalive_requests` "
      "are raised so nginx never closes a busy connection. No access logs. Configs: `bench/conf/`.")
    w("- **wrk.** `wrk -t1 -cN -d<DURATION> --latency` for each body × connection count, every target "
      "(the backend alone as the reference line, then each proxy) once per round, the order rotated each "
      "round; medians over the rounds. p50/p99 come from wrk's latency histogram (`bench/lua/report.lua`). "
      "CPU per request is the utime+stime delta of the proxy's processes from `/proc/PID/stat`.")
    w("- **Idle connections.** `bench/tools/idle_conns.py` opens the connections (200 at a time), sends one "
      "keep-alive GET on each, reads the answer and keeps the socket open; the proxy's VmRSS (master and "
      "workers summed) before and 2 s after the last one is up, divided by the connections held. Fresh "
      "proxies, before any wrk run.")
    w(f"- **Callgrind.** Each proxy is started under `valgrind --tool=callgrind` (nginx with "
      "`master_process off`, HAProxy `-db` single thread, sluice `workers = 1`; not pinned, several at once, "
      "since instruction counts do not depend on timing); `bench/tools/seq_client.py` "
      "sends keep-alive GETs one after another on one connection, then the proxy is stopped with SIGTERM. "
      f"Two runs per proxy and body: {meta.get('settings', '').split('CALLGRIND_WARMUP=')[-1].split()[0] if 'CALLGRIND_WARMUP=' in meta.get('settings', '') else 'W'} "
      "requests, and the same plus N; instructions per request = (Ir of the long run − Ir of the short run) "
      "/ N, which removes start-up, shutdown, the first connection and warm-up allocations. The backend "
      "(not under valgrind) is not counted. Top functions of the long runs: `raw/callgrind/`.")
    w("- **Optional sections** (cache hits, rate-limited route) run only when `sluice -t` accepts the "
      "fragment in `bench/conf/`; nginx and HAProxy have their equivalents configured "
      "(`proxy_cache`/`limit_req`, `cache`/stick-table) and are measured alongside.")
    w("- Sluice adds `X-Forwarded-*`, `X-Request-Id` and `Via` to each upstream request and `X-Request-Id` "
      "to each response (its contract); nginx and HAProxy were left at their defaults, which add none.")
    w("")
    w("![chart](latest.png)")
    w("")

    os.makedirs(args.out, exist_ok=True)
    md_path = os.path.join(args.out, "latest.md")
    with open(md_path, "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))

    # ---- chart data
    data_dir = os.path.join(args.raw, "chart")
    os.makedirs(data_dir, exist_ok=True)
    chart_sc = main_sc + cache_sc + rl_sc
    with open(os.path.join(data_dir, "rps.dat"), "w") as f:
        f.write("scenario " + " ".join(f'"{TARGET_LABEL[t]}"' for t in proxies + ["backend"]) + "\n")
        for sc in chart_sc:
            f.write(sc + " " + " ".join(fmt(tp.get(sc, t, "rps"), ".0f").replace("–", "NaN")
                                        for t in proxies + ["backend"]) + "\n")
    with open(os.path.join(data_dir, "cpu.dat"), "w") as f:
        f.write("scenario " + " ".join(TARGET_LABEL[t] for t in proxies) + "\n")
        for sc in chart_sc:
            f.write(sc + " " + " ".join(fmt(tp.get(sc, t, "cpu"), ".3f").replace("–", "NaN") for t in proxies) + "\n")
    with open(os.path.join(data_dir, "ir.dat"), "w") as f:
        f.write("body " + " ".join(TARGET_LABEL[t] for t in proxies) + "\n")
        for b in dict.fromkeys(r["body"] for r in cg):
            f.write(b + " " + " ".join(fmt(cgv.get((t, b)), ".0f").replace("–", "NaN") for t in proxies) + "\n")
        if not cg:
            f.write("none " + " ".join("NaN" for _ in proxies) + "\n")
    with open(os.path.join(data_dir, "mem.dat"), "w") as f:
        f.write("metric " + " ".join(TARGET_LABEL[t] for t in proxies) + "\n")
        vals = {}
        for r in mem:
            ok = int(r["ok"])
            vals[r["proxy"]] = (int(r["rss_after_kib"]) - int(r["rss_before_kib"])) / ok if ok else None
        f.write("KiB/idle_conn " + " ".join(fmt(vals.get(t), ".3f").replace("–", "NaN") for t in proxies) + "\n")
    png = os.path.join(args.out, "latest.png")
    if args.chart and shutil.which("gnuplot"):
        r = subprocess.run(["gnuplot", "-e", f"datadir='{data_dir}'; outfile='{png}'; "
                            f"subtitle='{meta.get('date', '')}, {meta.get('machine', '').split(',')[0]}'", args.chart],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"report: gnuplot failed: {r.stderr}", file=sys.stderr)
    else:
        print("report: gnuplot not found, no chart", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
