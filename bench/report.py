#!/usr/bin/env python3
"""Turns the JSON lines of bench/compare.sh into tables and plots.

Input: one line per measurement, {"case", "repeat", "target", "result": <slim-bench JSON>}.
Output in --out: results.json (medians per case and target), results.md (the tables with the
ratios ours/upstream and ours/NATS) and, when matplotlib is importable, PNG plots:
throughput_vs_payload.png, latency_percentiles.png, latency_vs_payload.png, memory_soak.png,
scaling.png.

Ratios are always "how many times better ours is": throughput ours/theirs, latency
theirs/ours. Above 1 means ours is ahead.
"""

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

TARGETS = ["ours", "upstream", "nats"]
NAMES = {"ours": "ours", "upstream": "upstream 3.4.6", "nats": "NATS"}


def load(path):
    runs = defaultdict(lambda: defaultdict(list))
    for line in Path(path).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            runs[row["case"]][row["target"]].append(row["result"])
    return runs


def median_of(results, key):
    values = [key(r) for r in results]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(results):
    """Median of each figure over the repeats of one case and target."""
    lat = lambda q: (lambda r: (r.get("latency_us") or {}).get(q))
    mem = lambda k: (lambda r: (r.get("node_memory") or {}).get(k))
    return {
        "repeats": len(results),
        "msgs_per_s": median_of(results, lambda r: r["msgs_per_s"]),
        "bytes_per_s": median_of(results, lambda r: r["bytes_per_s"]),
        "lost": median_of(results, lambda r: r["lost"]),
        "p50_us": median_of(results, lat("p50")),
        "p90_us": median_of(results, lat("p90")),
        "p99_us": median_of(results, lat("p99")),
        "p999_us": median_of(results, lat("p999")),
        "max_us": median_of(results, lat("max")),
        "rss_start_kib": median_of(results, mem("start_kib")),
        "rss_loaded_kib": median_of(results, mem("loaded_kib")),
        "rss_max_kib": median_of(results, mem("max_kib")),
        "rss_end_kib": median_of(results, mem("end_kib")),
        "loadavg": [r["loadavg"][0] for r in results],
    }


def fmt_rate(v):
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k"
    return f"{v:.0f}"


def fmt_mb(v):
    return "–" if v is None else f"{v / 1e6:.1f}"


def fmt_us(v):
    return "–" if v is None else f"{v:.1f}"


def fmt_mib(v):
    return "–" if v is None else f"{v / 1024:.1f}"


def ratio(ours, theirs, lower_is_better=False):
    if not ours or not theirs:
        return "–"
    r = theirs / ours if lower_is_better else ours / theirs
    return f"{r:.2f}×"


def case_size(case):
    return int(case.rsplit("-", 1)[1])


def tables(medians, present):
    lines = []
    cols = [t for t in TARGETS if t in present]
    rcols = [t for t in ("upstream", "nats") if t in present and "ours" in present]

    def header(first, unit):
        head = f"| {first} | " + " | ".join(f"{NAMES[t]} {unit}" for t in cols)
        head += "".join(f" | ours/{NAMES[t]}" for t in rcols) + " |"
        sep = "|---|" + "---:|" * (len(cols) + len(rcols))
        return [head, sep]

    def row(label, case, key, fmt, lower=False):
        m = medians.get(case, {})
        vals = [m.get(t, {}).get(key) for t in cols]
        cells = [fmt(v) for v in vals]
        ours = m.get("ours", {}).get(key)
        rs = [ratio(ours, m.get(t, {}).get(key), lower) for t in rcols]
        return f"| {label} | " + " | ".join(cells) + "".join(f" | {r}" for r in rs) + " |"

    stream = sorted((c for c in medians if c.startswith("pubsub-1to1-")), key=case_size)
    if stream:
        lines += ["### Forwarding, 1 publisher → 1 subscriber through one node", ""]
        lines += header("payload", "msg/s")
        lines += [row(f"{case_size(c)} B", c, "msgs_per_s", fmt_rate) for c in stream]
        lines += [""] + header("payload", "MB/s")
        lines += [row(f"{case_size(c)} B", c, "bytes_per_s", fmt_mb) for c in stream]
        lines.append("")
    others = [c for c in ("pubsub-4to4-64", "fanout-1to4-64") if c in medians]
    if others:
        lines += ["### More clients, 64 B (deliveries per second)", ""]
        lines += header("case", "msg/s")
        labels = {"pubsub-4to4-64": "pubsub 4 → 4 (anycast)", "fanout-1to4-64": "fanout 1 → 4 (broadcast)"}
        lines += [row(labels[c], c, "msgs_per_s", fmt_rate) for c in others]
        lines.append("")
    rtt = sorted((c for c in medians if c.startswith("rtt-")), key=case_size)
    if rtt:
        lines += ["### Round trip (request → echo), one request in flight, µs", ""]
        lines += header("payload, percentile", "µs")
        for c in rtt:
            for key, name in (("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99"), ("p999_us", "p99.9"), ("max_us", "max")):
                lines.append(row(f"{case_size(c)} B {name}", c, key, fmt_us, lower=True))
        lines.append("")
    if "soak-64" in medians:
        lines += ["### Node memory under sustained load (pubsub 64 B), MiB", ""]
        lines += ["| system | fresh | connected, before traffic | max during | at end | msg/s |", "|---|---:|---:|---:|---:|---:|"]
        for t in cols:
            m = medians["soak-64"].get(t, {})
            lines.append(f"| {NAMES[t]} | {fmt_mib(m.get('rss_start_kib'))} | {fmt_mib(m.get('rss_loaded_kib'))} | {fmt_mib(m.get('rss_max_kib'))} | {fmt_mib(m.get('rss_end_kib'))} | {fmt_rate(m.get('msgs_per_s'))} |")
        lines.append("")
    scale = [c for c in medians if c.startswith("scale-")]
    if scale:
        lines += ["### Scaling: forwarding 64 B (1 → 1) while the node holds more", ""]
        lines += ["| held | system | msg/s | fresh node RSS, MiB | holding them, MiB | max during traffic, MiB |", "|---|---|---:|---:|---:|---:|"]
        order = lambda c: (c.split("-")[1], case_size(c))
        for c in sorted(scale, key=order):
            kind, n = c.split("-")[1], case_size(c)
            label = f"{n} idle clients" if kind == "clients" else f"{n} subscriptions"
            for t in cols:
                m = medians[c].get(t, {})
                lines.append(f"| {label} | {NAMES[t]} | {fmt_rate(m.get('msgs_per_s'))} | {fmt_mib(m.get('rss_start_kib'))} | {fmt_mib(m.get('rss_loaded_kib'))} | {fmt_mib(m.get('rss_max_kib'))} |")
        lines.append("")
    return lines


def plots(runs, medians, present, out):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not available: no plots")
        return []
    made = []
    cols = [t for t in TARGETS if t in present]
    colors = {"ours": "tab:blue", "upstream": "tab:orange", "nats": "tab:green"}

    stream = sorted((c for c in medians if c.startswith("pubsub-1to1-")), key=case_size)
    if stream:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for t in cols:
            xs = [case_size(c) for c in stream if medians[c].get(t)]
            axes[0].plot(xs, [medians[c][t]["msgs_per_s"] for c in stream if medians[c].get(t)], "o-", label=NAMES[t], color=colors[t])
            axes[1].plot(xs, [medians[c][t]["bytes_per_s"] / 1e6 for c in stream if medians[c].get(t)], "o-", label=NAMES[t], color=colors[t])
        for ax, title in zip(axes, ("messages/s", "payload MB/s")):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("payload bytes")
            ax.set_title(f"1 → 1 through one node: {title}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(out / "throughput_vs_payload.png", dpi=110)
        made.append("throughput_vs_payload.png")
        plt.close(fig)

    rtt = sorted((c for c in medians if c.startswith("rtt-")), key=case_size)
    if rtt:
        first = rtt[0]
        keys = [("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99"), ("p999_us", "p99.9"), ("max_us", "max")]
        fig, ax = plt.subplots(figsize=(8, 4))
        width = 0.8 / max(len(cols), 1)
        for i, t in enumerate(cols):
            m = medians[first].get(t, {})
            ax.bar([k + i * width for k in range(len(keys))], [m.get(k) or 0 for k, _ in keys], width, label=NAMES[t], color=colors[t])
        ax.set_xticks([k + width * (len(cols) - 1) / 2 for k in range(len(keys))], [n for _, n in keys])
        ax.set_yscale("log")
        ax.set_ylabel("µs")
        ax.set_title(f"round trip latency, {case_size(first)} B, one request in flight")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "latency_percentiles.png", dpi=110)
        made.append("latency_percentiles.png")
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(8, 4))
        for t in cols:
            xs = [case_size(c) for c in rtt if medians[c].get(t)]
            ax.plot(xs, [medians[c][t]["p50_us"] for c in rtt if medians[c].get(t)], "o-", color=colors[t], label=f"{NAMES[t]} p50")
            ax.plot(xs, [medians[c][t]["p99_us"] for c in rtt if medians[c].get(t)], "o--", color=colors[t], label=f"{NAMES[t]} p99")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("payload bytes")
        ax.set_ylabel("µs")
        ax.set_title("round trip latency versus payload")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "latency_vs_payload.png", dpi=110)
        made.append("latency_vs_payload.png")
        plt.close(fig)

    if "soak-64" in runs:
        fig, ax = plt.subplots(figsize=(8, 4))
        for t in cols:
            for r in runs["soak-64"].get(t, [])[:1]:
                samples = (r.get("node_memory") or {}).get("samples") or []
                if samples:
                    ax.plot([s[0] for s in samples], [s[1] / 1024 for s in samples], color=colors[t], label=NAMES[t])
        ax.set_xlabel("seconds of sustained pubsub 64 B")
        ax.set_ylabel("node RSS, MiB")
        ax.set_ylim(bottom=0)
        ax.set_title("node memory under sustained load")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "memory_soak.png", dpi=110)
        made.append("memory_soak.png")
        plt.close(fig)

    scale = [c for c in medians if c.startswith("scale-")]
    if scale:
        fig, axes = plt.subplots(2, 2, figsize=(11, 7))
        for row, kind, label in ((0, "clients", "idle connected clients"), (1, "subs", "extra subscriptions")):
            cases = sorted((c for c in scale if c.split("-")[1] == kind), key=case_size)
            for t in cols:
                xs = [case_size(c) for c in cases if medians[c].get(t)]
                axes[row][0].plot(xs, [medians[c][t]["msgs_per_s"] for c in cases if medians[c].get(t)], "o-", color=colors[t], label=NAMES[t])
                axes[row][1].plot(xs, [(medians[c][t]["rss_loaded_kib"] or 0) / 1024 for c in cases if medians[c].get(t)], "o-", color=colors[t], label=NAMES[t])
            axes[row][0].set_title(f"1 → 1 msg/s with {label}")
            axes[row][1].set_title(f"node RSS (MiB) holding {label}")
            for ax in axes[row]:
                ax.set_xscale("log")
                ax.set_xlabel(label)
                ax.grid(True, which="both", alpha=0.3)
                ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "scaling.png", dpi=110)
        made.append("scaling.png")
        plt.close(fig)
    return made


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--out", default="docs/bench")
    parser.add_argument("--info", help="run description to copy into the outputs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = load(args.results)
    medians = {case: {t: summarise(rs) for t, rs in by_target.items()} for case, by_target in runs.items()}
    present = {t for by_target in runs.values() for t in by_target}
    info = Path(args.info).read_text().strip() if args.info else ""

    (out / "results.json").write_text(json.dumps({"info": info, "medians": medians}, indent=1) + "\n")
    made = plots(runs, medians, present, out)
    md = ["# Benchmark results", "", "Generated by `bench/compare.sh` (medians over the repeats).", "", "```", info, "```", ""]
    md += tables(medians, present)
    md += [f"![{p}]({p})" for p in made]
    (out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(tables(medians, present)))
    print(f"wrote {out / 'results.md'}, {out / 'results.json'}" + (f" and {len(made)} plots" if made else ""))


if __name__ == "__main__":
    main()
