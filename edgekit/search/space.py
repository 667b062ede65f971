"""The search space file (TOML): a fixed stem and head around stages of candidate blocks.

    [space]
    name = "digits"
    input = [3, 32, 32]          # C, H, W of the network's input
    num_classes = 10
    stem = 8                     # stem width: 3x3 conv stride 2 → BN → ReLU6

    [blocks.sm]                  # a candidate family; a list value expands into one candidate per value
    type = "micro"               # micro | dyconv
    kernel = [3, 5]              # depthwise (k,1)+(1,k)
    expansion = 2                # hidden = input channels × expansion
    groups = 2                   # group split of both 1x1 convolutions (and the shuffle)
    act = "shiftmax"             # micro: shiftmax | dyrelu | relu6
    j = 2                        # shiftmax: shifted copies J (1 or 2);  k: maxima K (1 or 2)
    k = 2
    # variant = "B"              # dyrelu: A | B | C;   dyconv_k = 4: DY-Conv kernels (dyconv)

    [stages.s1]                  # stages run in file order; each picks one candidate
    out = 16                     # output width
    stride = 2
    candidates = ["sm", "relu"]  # names of [blocks.X] families
    # input = [8, 16, 16]        # optional: asserted against what the previous stage gives

Every stage's input shape follows from the stem and the stages before it. Errors are one line
naming the file, line and key (the budget file's line finder).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.budget.schema import _Where, read_toml
from edgekit.errors import EdgekitError, did_you_mean

BLOCK_TYPES = ("micro", "dyconv")
ACTS = ("shiftmax", "dyrelu", "relu6")
BLOCK_KEYS = {"type", "kernel", "expansion", "groups", "act", "j", "k", "variant", "dyconv_k"}
STAGE_KEYS = {"out", "stride", "candidates", "input"}
SPACE_KEYS = {"name", "input", "num_classes", "stem"}


def block_key(spec: dict, shape) -> str:
    """The latency table's key of one block at one input shape (content hash of both)."""
    text = json.dumps({"spec": spec, "input": list(shape)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def block_label(spec: dict) -> str:
    t = spec["type"]
    if t in ("stem", "head"):
        return f"{t}-{spec['out'] if t == 'stem' else spec['num_classes']}"
    s = f"{t}-k{spec['kernel']}-e{spec['expansion']}-g{spec['groups']}"
    if t == "dyconv":
        return s + f"-K{spec.get('dyconv_k', 4)}"
    act = spec.get("act", "relu6")
    if act == "shiftmax":
        return s + f"-shiftmax-j{spec.get('j', 2)}k{spec.get('k', 2)}"
    if act == "dyrelu":
        return s + f"-dyrelu{spec.get('variant', 'B')}"
    return s + "-relu6"


@dataclass
class Stage:
    name: str
    out: int
    stride: int
    input: tuple[int, int, int]
    candidates: list[dict]  # complete block specs (with out, stride)

    @property
    def output(self) -> tuple[int, int, int]:
        return (self.out, self.input[1] // self.stride, self.input[2] // self.stride)

    def labels(self) -> list[str]:
        return [block_label(c) for c in self.candidates]


@dataclass
class Space:
    name: str
    path: str
    input: tuple[int, int, int]
    num_classes: int
    stem: dict
    head: dict
    stages: list[Stage] = field(default_factory=list)

    @property
    def stem_output(self) -> tuple[int, int, int]:
        c, h, w = self.input
        return (self.stem["out"], (h + 1) // 2, (w + 1) // 2)

    @property
    def head_input(self) -> tuple[int, int, int]:
        return self.stages[-1].output if self.stages else self.stem_output

    def architecture(self, choices) -> list[tuple[dict, tuple]]:
        """[(block spec, input shape)] for one candidate index per stage, stem and head included."""
        if len(choices) != len(self.stages):
            raise EdgekitError(f"an architecture of {self.name} picks one block for each of its {len(self.stages)} "
                               f"stages (got {len(choices)})")
        out = [(self.stem, self.input)]
        for st, c in zip(self.stages, choices):
            if not 0 <= c < len(st.candidates):
                raise EdgekitError(f"stage {st.name} has {len(st.candidates)} candidates (no index {c})")
            out.append((st.candidates[c], st.input))
        return out + [(self.head, self.head_input)]

    def distinct_blocks(self) -> list[tuple[dict, tuple]]:
        """Every (block, input shape) any architecture uses, once."""
        seen, out = set(), []
        for spec, shape in [(self.stem, self.input)] + [(c, st.input) for st in self.stages for c in st.candidates] \
                + [(self.head, self.head_input)]:
            k = block_key(spec, shape)
            if k not in seen:
                seen.add(k)
                out.append((spec, shape))
        return out

    def size(self) -> int:
        n = 1
        for st in self.stages:
            n *= len(st.candidates)
        return n

    def sample(self, n: int, seed: int, exclude=()) -> list[tuple[int, ...]]:
        """n distinct architectures (candidate indices), seeded; fewer when the space is smaller."""
        import random

        rng = random.Random(seed)
        taken, out = set(map(tuple, exclude)), []
        total = self.size()
        while len(out) < n and len(taken) < total:
            c = tuple(rng.randrange(len(st.candidates)) for st in self.stages)
            if c not in taken:
                taken.add(c)
                out.append(c)
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "input": list(self.input), "num_classes": self.num_classes,
                "stem": self.stem, "head": self.head,
                "stages": [{"name": s.name, "out": s.out, "stride": s.stride, "input": list(s.input),
                            "candidates": s.candidates} for s in self.stages]}


def _int(where, table, key, value, low=1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise where.error(f"{key} must be an integer >= {low} (got {value!r})", table, key)
    return value


def _shape(where, table, key, value) -> tuple[int, int, int]:
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                and v >= 1 for v in value)):
        raise where.error(f"{key} must be [C, H, W], three integers >= 1 (got {value!r})", table, key)
    return tuple(value)


def _expand(where, table: str, fam: dict) -> list[dict]:
    for key in fam:
        if key not in BLOCK_KEYS:
            raise where.error(f"unknown key {key!r} in [{table}]{did_you_mean(key, BLOCK_KEYS)}", table, key)
    if "type" not in fam:
        raise where.error(f"[{table}] needs type = one of {', '.join(BLOCK_TYPES)}", table)
    if fam["type"] not in BLOCK_TYPES:
        raise where.error(f"unknown block type {fam['type']!r}{did_you_mean(str(fam['type']), BLOCK_TYPES)} "
                          f"(known: {', '.join(BLOCK_TYPES)})", table, "type")
    keys = sorted(fam)
    values = [fam[k] if isinstance(fam[k], list) else [fam[k]] for k in keys]
    out = []
    for combo in itertools.product(*values):
        spec = {"kernel": 3, "expansion": 2, "groups": 1, **dict(zip(keys, combo))}
        if spec["type"] == "micro":
            spec.setdefault("act", "relu6")
            if spec["act"] not in ACTS:
                raise where.error(f"act must be one of {', '.join(ACTS)} (got {spec['act']!r})", table, "act")
            if spec["act"] == "shiftmax":
                spec.setdefault("j", 2)
                spec.setdefault("k", 2)
                for key in ("j", "k"):
                    if spec[key] not in (1, 2):
                        raise where.error(f"{key} (Shift-Max) must be 1 or 2 (got {spec[key]!r})", table, key)
            if spec["act"] == "dyrelu":
                spec.setdefault("variant", "B")
                if spec["variant"] not in ("A", "B", "C"):
                    raise where.error(f"variant (DY-ReLU) must be A, B or C (got {spec['variant']!r})", table, "variant")
        else:
            spec.setdefault("dyconv_k", 4)
            _int(where, table, "dyconv_k", spec["dyconv_k"], 2)
        for key in ("kernel", "expansion", "groups"):
            _int(where, table, key, spec[key])
        if spec["kernel"] % 2 == 0:
            raise where.error(f"kernel must be odd (got {spec['kernel']})", table, "kernel")
        out.append(spec)
    return out


def load_space(path) -> Space:
    """Parse and check a space file; EdgekitError (exit 2) naming file:line and key on any problem."""
    path = Path(path)
    data, where = read_toml(path, "space", "lut")
    for key in data:
        if key not in ("space", "blocks", "stages"):
            raise where.error(f"unknown table [{key}] (expected [space], [blocks.X], [stages.X])", None, key)
    sp = data.get("space")
    if not isinstance(sp, dict):
        raise where.error("missing [space] table (name, input, num_classes, stem)")
    for key in sp:
        if key not in SPACE_KEYS:
            raise where.error(f"unknown key {key!r} in [space]{did_you_mean(key, SPACE_KEYS)}", "space", key)
    shape = _shape(where, "space", "input", sp.get("input", [3, 32, 32]))
    num_classes = _int(where, "space", "num_classes", sp.get("num_classes", 10))
    stem = _int(where, "space", "stem", sp.get("stem", 8))
    families = {}
    for name, fam in (data.get("blocks") or {}).items():
        if not isinstance(fam, dict):
            raise where.error(f"blocks.{name} must be a table", None, "blocks")
        families[name] = _expand(where, f"blocks.{name}", fam)
    stages_raw = data.get("stages")
    if not isinstance(stages_raw, dict) or not stages_raw:
        raise where.error("no [stages.X] tables: a space needs at least one stage")
    space = Space(name=str(sp.get("name", path.stem)), path=str(path.resolve()), input=shape, num_classes=num_classes,
                  stem={"type": "stem", "out": stem}, head={"type": "head", "num_classes": num_classes})
    cur = space.stem_output
    for name, st in stages_raw.items():
        table = f"stages.{name}"
        if not isinstance(st, dict):
            raise where.error(f"{table} must be a table", None, "stages")
        for key in st:
            if key not in STAGE_KEYS:
                raise where.error(f"unknown key {key!r} in [{table}]{did_you_mean(key, STAGE_KEYS)}", table, key)
        out = _int(where, table, "out", st.get("out"))
        stride = st.get("stride", 1)
        if stride not in (1, 2):
            raise where.error(f"stride must be 1 or 2 (got {stride!r})", table, "stride")
        if "input" in st and _shape(where, table, "input", st["input"]) != cur:
            raise where.error(f"stage {name}'s input {list(st['input'])} does not chain: the stage before it gives "
                              f"{list(cur)}", table, "input")
        if cur[1] % stride or cur[2] % stride:
            raise where.error(f"stage {name}'s input {cur[1]}x{cur[2]} does not divide by stride {stride}: "
                              f"the stages' shapes do not chain", table, "stride")
        names = st.get("candidates")
        if not isinstance(names, list) or not names:
            raise where.error("candidates must be a non-empty list of [blocks.X] names", table, "candidates")
        cands = []
        for n in names:
            if n not in families:
                raise where.error(f"unknown block {n!r}{did_you_mean(str(n), families)} "
                                  f"(defined: {', '.join(families) or 'none'})", table, "candidates")
            for spec in families[n]:
                spec = {**spec, "out": out, "stride": stride}
                g, hidden = spec["groups"], cur[0] * spec["expansion"]
                if cur[0] % g or out % g or hidden % g:
                    raise where.error(f"block {n} ({block_label(spec)}): groups {g} must divide the input width "
                                      f"{cur[0]}, the hidden width {hidden} and the output width {out}", table,
                                      "candidates")
                if spec not in cands:
                    cands.append(spec)
        space.stages.append(Stage(name, out, stride, cur, cands))
        cur = space.stages[-1].output
    return space
