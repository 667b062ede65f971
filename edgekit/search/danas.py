"""DA-NAS-style search under a latency budget: the supernet trained progressively on growing class
subsets (easiest classes first), the weakest candidates of every layer pruned after each stage,
the expected latency (probability-weighted table entries through the fitted predictor) in the loss.

    out/
      state.pt          the supernet after the last finished stage (resume point) + its config
      stages.json       one entry per finished stage: classes, candidates left, accuracy, latency
      net.py            the chosen architecture as file.py:build (edgekit export takes it)
      net.pth           its weights, trained from scratch with the recipe of edgekit.search.data.train
      card.json         its card;  arch.json: its blocks (edgekit predict takes it)
      report.json/.md   the stages, the choice, predicted and (--measure) measured latency
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.search.arch import module_text, write_arch, write_text_atomic
from edgekit.search.predict import block_sum, fit_correction


def space_card(space, name: str = "search"):
    from edgekit.models.card import Card

    c = space.input[0]
    return Card(name=name, family="search", input_size=tuple(space.input), num_classes=space.num_classes,
                crop=space.input[-1], resize=space.input[-1], mean=(0.0,) * c, std=(1.0,) * c)


class LatencyModel:
    """The table's entries for this space, as the search needs them."""

    def __init__(self, space, table, threads: int):
        self.space, self.table, self.threads = space, table, threads
        self.fixed = block_sum(table, [(space.stem, space.input), (space.head, space.head_input)], threads)[0]
        self.per_stage = [[block_sum(table, [(c, st.input)], threads)[0] for c in st.candidates] for st in space.stages]
        self.correction = fit_correction(table, threads)

    def predict(self, choices) -> float:
        total = self.fixed + sum(lat[c] for lat, c in zip(self.per_stage, choices))
        return self.correction["alpha"] * total + self.correction["beta"]

    def fastest(self) -> tuple[list[int], float]:
        ch = [min(range(len(lat)), key=lat.__getitem__) for lat in self.per_stage]
        return ch, self.predict(ch)


def stage_classes(order: list[int], stages: list[int] | None) -> list[list[int]]:
    n = len(order)
    counts = stages or sorted({max(2, math.ceil(n * 0.4)), max(2, math.ceil(n * 0.7)), n})
    if counts[-1] != n or any(b <= a for a, b in zip(counts, counts[1:])) or counts[0] < 2:
        raise EdgekitError(f"--stages {','.join(map(str, counts))}: growing class counts from 2 up to {n}")
    return [order[:k] for k in counts]


def _config_hash(space, budget, data, epochs, stages, seed, threads, device) -> str:
    text = json.dumps([space.to_dict()["stages"], budget, str(data), epochs, stages, seed, threads, device],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def repair(choices: list[int], supernet, lat: LatencyModel, budget: float) -> list[int]:
    """Swap choices for cheaper ones (the smallest loss of log-probability per ms saved; alive
    candidates first) until the prediction meets the budget."""
    import torch

    choices = list(choices)
    while lat.predict(choices) > budget:
        best = None
        for only_alive in (True, False):
            for li, layer in enumerate(supernet.layers):
                logp = torch.log_softmax(layer.alpha.detach(), 0)
                cur = lat.per_stage[li][choices[li]]
                for ci, ms in enumerate(lat.per_stage[li]):
                    if ms >= cur or (only_alive and not bool(layer.alive[ci])):
                        continue
                    cost = float(logp[choices[li]] - logp[ci]) / (cur - ms)
                    if best is None or cost < best[0]:
                        best = (cost, li, ci)
            if best is not None:
                break
        if best is None:
            break
        choices[best[1]] = best[2]
    return choices


def search(space, table, *, threads: int, budget_ms: float, data: str, out_dir, device: str, epochs: int = 3,
           final_epochs: int = 15, stages: list[int] | None = None, lam: float = 2.0, seed: int = 0,
           force: bool = False, progress=None, data_size: int | None = None, measure: bool = False,
           runs: int = 200) -> dict:
    import torch

    from edgekit.search.data import accuracy, class_order, load_data, recalibrate_bn, split, train
    from edgekit.search.supernet import SuperNet

    lat = LatencyModel(space, table, threads)
    target = next(iter(table.blocks.values()))["target"]
    fastest, fastest_ms = lat.fastest()
    if fastest_ms > budget_ms:
        raise EdgekitError(f"--max-latency-ms {budget_ms:g}: no architecture of {space.name} can meet it on {device} "
                           f"(the fastest, {'/'.join(st.labels()[c] for st, c in zip(space.stages, fastest))}, "
                           f"is predicted at {fastest_ms:.4f} ms at {threads} thread(s))")
    out = Path(out_dir)
    final_files = [out / n for n in ("net.py", "net.pth", "arch.json", "card.json", "report.json")]
    if not force and any(p.exists() for p in final_files):
        raise EdgekitError(f"{out} already holds a finished search; pass --force to overwrite or use another -o")
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda m: None)
    t0 = time.time()
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        card = space_card(space)
        x, y = load_data(data, card, data_size)
        if int(y.max()) >= space.num_classes:
            raise EdgekitError(f"--data labels go up to {int(y.max())} but the space has num_classes = {space.num_classes}")
        tr, va = split(len(y), seed)
        order = class_order(x[tr], y[tr])
        subsets = stage_classes(order, stages)
        cfg = _config_hash(space, budget_ms, data, epochs, [len(s) for s in subsets], seed, threads, device)
        torch.manual_seed(seed)
        net = SuperNet(space)
        state_path, stages_path = out / "state.pt", out / "stages.json"
        done: list[dict] = []
        if state_path.is_file() and not force:
            state = torch.load(state_path, weights_only=True)
            if state.get("config") != cfg:
                raise EdgekitError(f"{out} holds a search with other settings (space, budget, data, epochs, stages); "
                                   f"pass --force to start over or use another -o")
            net.load_state_dict(state["model"])
            done = json.loads(stages_path.read_text()) if stages_path.is_file() else []
            done = done[: state["stage"]]
            say(f"resuming after stage {len(done)} of {len(subsets)}")
        lat_t = [torch.tensor(v, dtype=torch.float32) for v in lat.per_stage]
        a, b = lat.correction["alpha"], lat.correction["beta"]
        for si in range(len(done), len(subsets)):
            classes = subsets[si]
            ts = time.time()
            cls_t = torch.tensor(classes)
            remap = torch.zeros(space.num_classes, dtype=torch.long)
            remap[cls_t] = torch.arange(len(classes))
            sel = tr[[int(v) in classes for v in y[tr]]]
            xt, yt = torch.from_numpy(x[sel]), torch.from_numpy(y[sel])
            w_opt = torch.optim.AdamW(net.weight_parameters(), lr=4e-3, weight_decay=1e-4)
            a_opt = torch.optim.Adam(net.arch_parameters(), lr=5e-2)
            gen = torch.Generator().manual_seed(seed + si)
            for ep in range(epochs):
                # the first epoch of a stage trains the weights only (when there are several): α judged on
                # weights that have not yet seen the stage's classes would prune at random
                arch_step = epochs == 1 or ep > 0
                net.train()
                for idx in torch.randperm(len(yt), generator=gen).split(64):
                    if len(idx) < 2:
                        continue
                    # over the stage's classes only (label smoothing over masked -inf logits is an infinite loss
                    # whose gradient pushes the absent classes up)
                    logits = net(xt[idx])[:, cls_t]
                    ce = torch.nn.functional.cross_entropy(logits, remap[yt[idx]], label_smoothing=0.05)
                    expected = net.expected_latency(lat_t, lat.fixed, a, b)
                    loss = ce + lam * torch.relu(expected / budget_ms - 1.0) + 0.05 * expected / budget_ms
                    w_opt.zero_grad()
                    a_opt.zero_grad()
                    loss.backward()
                    w_opt.step()
                    if arch_step:
                        a_opt.step()
            vsel = va[[int(v) in classes for v in y[va]]]
            recalibrate_bn(net, x[sel])
            acc = accuracy(net, x[vsel], y[vsel], classes)
            with torch.no_grad():
                expected = float(net.expected_latency(lat_t, lat.fixed, a, b))
            before = net.alive_counts()
            if si < len(subsets) - 1:  # prune the weakest half of every layer's candidates (at least one left)
                for layer in net.layers:
                    alive = [i for i in range(len(layer.alive)) if layer.alive[i]]
                    keep = max(1, math.ceil(len(alive) / 2))
                    ranked = sorted(alive, key=lambda i: -float(layer.alpha.detach()[i]))
                    for i in ranked[keep:]:
                        layer.alive[i] = False
            entry = {"stage": si + 1, "classes": classes, "train_samples": int(len(sel)),
                     "candidates_before": before, "candidates_left": net.alive_counts(),
                     "left": [[st.labels()[i] for i in range(len(layer.alive)) if layer.alive[i]]
                              for st, layer in zip(space.stages, net.layers)],
                     "supernet_top1": round(acc, 2), "expected_latency_ms": expected,
                     "argmax": net.choices(), "argmax_predicted_ms": lat.predict(net.choices()),
                     "seconds": round(time.time() - ts, 1)}
            done.append(entry)
            say(f"stage {si + 1}/{len(subsets)}: {len(classes)} classes, supernet top-1 {acc:.1f} %, expected "
                f"{expected:.4f} ms, candidates left {entry['candidates_left']} ({entry['seconds']} s)")
            tmp = state_path.with_name("state.pt.tmp")
            torch.save({"config": cfg, "stage": si + 1, "model": net.state_dict()}, tmp)
            os.replace(tmp, state_path)
            write_text_atomic(stages_path, json.dumps(done, indent=2) + "\n")
        choice = repair(net.choices(), net, lat, budget_ms)
        predicted = lat.predict(choice)
        say(f"chosen: {'/'.join(st.labels()[c] for st, c in zip(space.stages, choice))}, predicted {predicted:.4f} ms; "
            f"training it from scratch for {final_epochs} epochs")
        from edgekit.search.blocks import Network

        blocks = space.architecture(choice)
        torch.manual_seed(seed)
        from edgekit.search.blocks import init_weights

        model = init_weights(Network([s for s, _ in blocks], [sh[0] for _, sh in blocks]))
        ts = time.time()
        train(model, x[tr], y[tr], final_epochs, seed)
        top1 = accuracy(model, x[va], y[va])
        # the module's build() names its parameters blocks.N...: the same Network, so the weights load
        torch.save(model.state_dict(), out / "net.pth")
        write_text_atomic(out / "net.py", module_text(blocks, "net", f"{space.name}: searched on {data} under "
                                                      f"{budget_ms:g} ms on {device} ({threads} thread(s))",
                                                      "edgekit search", space.num_classes))
        arch = write_arch(out / "arch.json", space, choice, force=True,
                          extra={"device": device, "threads": threads, "budget_ms": budget_ms,
                                 "predicted_ms": predicted})
        card = space_card(space, "net")
        write_text_atomic(out / "card.json", json.dumps(card.to_dict(), indent=2, default=list) + "\n")
        report = {"kind": "search_report", "space": space.name, "device": device, "threads": threads,
                  "budget_ms": budget_ms, "data": str(data), "class_order": order, "stages": done,
                  "choice": choice, "labels": arch["labels"], "predicted_ms": predicted,
                  "fastest_predicted_ms": fastest_ms, "correction": lat.correction, "final_epochs": final_epochs,
                  "top1": round(top1, 2), "val_samples": int(len(va)), "final_train_seconds": round(time.time() - ts, 1),
                  "seconds": round(time.time() - t0, 1),
                  "export": f"edgekit export {out / 'net.py'}:build -w {out / 'net.pth'} --target {target}"}
        if measure:
            say(f"exporting the chosen network to {target} and timing it ({threads} thread(s))")
            report |= measure_chosen(out, target, threads, budget_ms)
        write_text_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
        write_text_atomic(out / "report.md", report_md(report))
        return report
    finally:
        torch.set_num_threads(threads_before)


def measure_chosen(out: Path, target: str, threads: int, budget_ms: float, runs: int = 200) -> dict:
    """Export net.py with net.pth through edgekit's pipeline and time it here: measured latency and top-1 parity."""
    from edgekit.exporters.pipeline import export_model
    from edgekit.runtimes.bench import benchmark

    res = export_model(f"{out / 'net.py'}:build", target, weights=str(out / "net.pth"), out=f"{out / 'export'}/",
                       force=True, verify=False, n_parity=4)
    b = benchmark(res.file, threads=threads, runs=runs, warmup=20)
    return {"exported": str(res.file), "measured_ms": b["latency_ms"]["median"], "measured_cv": b["latency_ms"]["cv"],
            "meets_budget": b["latency_ms"]["median"] <= budget_ms,
            "measured_conditions": {"runtime": b["runtime"], "runtime_version": b["runtime_version"],
                                    "emulated": (b.get("host") or {}).get("emulated")}}


def report_md(r: dict) -> str:
    lines = [f"# Search: {r['space']} on {r['device']} under {r['budget_ms']:g} ms ({r['threads']} thread(s))", "",
             f"Classes in order (easiest first): {r['class_order']}", "",
             "| stage | classes | candidates left per layer | supernet top-1 % | expected ms | argmax predicted ms | s |",
             "|---|---|---|---|---|---|---|"]
    for s in r["stages"]:
        lines.append(f"| {s['stage']} | {len(s['classes'])} | {s['candidates_left']} | {s['supernet_top1']} | "
                     f"{s['expected_latency_ms']:.4f} | {s['argmax_predicted_ms']:.4f} | {s['seconds']} |")
    lines += ["", f"Chosen: {' / '.join(r['labels'])} (choices {r['choice']}), predicted {r['predicted_ms']:.4f} ms; "
              f"trained from scratch {r['final_epochs']} epochs: top-1 {r['top1']} % on {r['val_samples']} held out."]
    if r.get("measured_ms") is not None:
        lines.append(f"Exported and measured: {r['measured_ms']:.4f} ms "
                     f"({'meets' if r['measured_ms'] <= r['budget_ms'] else 'MISSES'} the budget).")
    lines += ["", f"Export: `{r['export']}`"]
    return "\n".join(lines) + "\n"
