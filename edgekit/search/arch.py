"""Architectures as files: the `file.py:build` module `edgekit export` takes (for one block, to time
it alone, or for a whole network), and the arch JSON `edgekit predict` reads.

The module embeds the block specs as JSON and builds them with edgekit.search.blocks, so the
file is small, readable and needs nothing but edgekit and torch."""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.fileio import check_writable

_MODULE = '''"""{doc}

Built by edgekit ({what}); export it with `edgekit export {name}.py:build --target tflite`."""

import json

from edgekit.models.card import Card
from edgekit.search.blocks import Network, build_block, init_weights

BLOCKS = json.loads({blocks!r})
INPUT = tuple(BLOCKS[0]["input"])
NUM_CLASSES = {num_classes}


def build(num_classes: int = NUM_CLASSES):
    specs = [dict(b["spec"]) for b in BLOCKS]
    for s in specs:
        if s["type"] == "head":
            s["num_classes"] = num_classes
    cins = [b["input"][0] for b in BLOCKS]
    model = init_weights(build_block(specs[0], cins[0]) if len(specs) == 1 else Network(specs, cins))
    model.card = Card(name={name!r}, family="search", input_size=INPUT, num_classes=num_classes, crop=INPUT[-1],
                      resize=INPUT[-1], mean=(0.0,) * INPUT[0], std=(1.0,) * INPUT[0], description={doc!r})
    return model
'''


def arch_blocks(blocks) -> list[dict]:
    return [{"spec": spec, "input": list(shape)} for spec, shape in blocks]


def module_text(blocks, name: str, doc: str, what: str, num_classes: int) -> str:
    return _MODULE.format(doc=doc, what=what, name=name, blocks=json.dumps(arch_blocks(blocks), sort_keys=True),
                          num_classes=num_classes)


def write_text_atomic(path: Path, text: str) -> None:
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_arch(path) -> dict:
    """An arch JSON ({"space", "choices", "labels", "blocks": [{spec, input}]}) written by search or predict."""
    p = Path(path)
    if not p.is_file():
        raise EdgekitError(f"architecture file not found: {p} (an arch.json written by `edgekit search`)")
    try:
        arch = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise EdgekitError(f"{p}: not JSON: {exc}") from None
    if not isinstance(arch, dict) or not isinstance(arch.get("blocks"), list) or not arch["blocks"]:
        raise EdgekitError(f"{p}: not an architecture file (no 'blocks' list)")
    return arch


def write_arch(path, space, choices, force: bool = False, extra: dict | None = None) -> dict:
    blocks = space.architecture(choices)
    arch = {"kind": "search_arch", "space": space.name, "choices": list(choices),
            "labels": [st.labels()[c] for st, c in zip(space.stages, choices)],
            "blocks": arch_blocks(blocks), **(extra or {})}
    p = Path(path)
    if not force:
        check_writable([p], False)
    write_text_atomic(p, json.dumps(arch, indent=2) + "\n")
    return arch
