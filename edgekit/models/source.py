"""Resolve a model source string to an eval-mode nn.Module with a card attached.

Sources: a zoo name (`micronet-m0`), a Python file and factory (`path/to/net.py:build`), or an
importable module and factory (`mypkg.nets:build`). Models without a card need an input shape.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from edgekit.errors import EdgekitError
from edgekit.models.card import Card
from edgekit.models.registry import create_model, is_registered, get_card


def _load_factory(spec: str):
    target, _, factory = spec.rpartition(":")
    if not target or not factory:
        raise EdgekitError(f"model source {spec!r} is neither a zoo name nor 'file.py:factory' / 'module:factory'")
    if target.endswith(".py") or os.sep in target:
        if not os.path.isfile(target):
            raise EdgekitError(f"model file not found: {target}")
        mod_name = "edgekit_user_" + os.path.splitext(os.path.basename(target))[0]
        module_spec = importlib.util.spec_from_file_location(mod_name, target)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise EdgekitError(f"importing {target} failed: {type(exc).__name__}: {exc}") from None
    else:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.append(os.getcwd())  # `edgekit` the script, like `python -m`, finds the user's packages in cwd
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise EdgekitError(f"cannot import module {target!r}: {exc}") from None
        except Exception as exc:
            raise EdgekitError(f"importing {target} failed: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, factory, None)
    if not callable(fn):
        raise EdgekitError(f"{target} has no callable {factory!r}")
    return fn


MAX_DIM = 4096  # largest channel count, clip length or side a --input-shape / --input-size may ask for


def parse_input_shape(text: str) -> tuple[int, ...]:
    """'3,224,224' or '3x224x224' → (3, 224, 224); a clip '3,8,112,112' → (C, T, H, W).

    A leading batch 1 is dropped ('1,3,224,224' is an image, '1,3,8,112,112' a clip), so a
    one-channel clip is written with its batch: '1,1,8,112,112'.
    """
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts if p.strip())
    except ValueError:
        shape = ()
    if len(shape) in (4, 5) and shape[0] == 1:
        shape = shape[1:]
    if len(shape) not in (3, 4) or min(shape) <= 0 or max(shape) > MAX_DIM:
        raise EdgekitError(f"--input-shape {text!r} is not C,H,W (e.g. 3,224,224) or C,T,H,W for a clip (3,8,112,112)")
    return shape


def load_model(source: str, weights: str | None = None, num_classes: int | None = None,
               input_size: int | None = None, input_shape: str | tuple | None = None, condition: bool = True):
    """The model and its card (also attached as `model.card`).

    A zoo model without weights gets BatchNorm statistics from random data (`condition`), so
    its outputs are O(1) like a trained model's; the card's `extra["weights"]` records it.
    """
    if is_registered(source):
        model = create_model(source, weights=weights, num_classes=num_classes)
        card = model.card
    elif ":" in source:
        import torch

        fn = _load_factory(source)
        kwargs = {"num_classes": num_classes} if num_classes is not None else {}
        try:
            model = fn(**kwargs)
        except Exception as exc:
            raise EdgekitError(f"{source}() failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(model, torch.nn.Module):
            raise EdgekitError(f"{source} returned a {type(model).__name__}, not a torch.nn.Module")
        card = getattr(model, "card", None)
        if not isinstance(card, Card):
            if input_shape is None:
                raise EdgekitError(f"{source} has no model card: give --input-shape C,H,W (C,T,H,W for a clip)")
            shape = parse_input_shape(input_shape) if isinstance(input_shape, str) else tuple(input_shape)
            card = Card(name=source, input_size=shape, crop=shape[-1], resize=shape[-1])
        if weights is not None:
            from edgekit.models.checkpoints import load_into, read_state_dict

            load_into(model, read_state_dict(weights), source=weights)
        model.eval()
    else:
        get_card(source)  # raises the unknown-name error with close matches
        raise AssertionError("unreachable")
    if input_shape is not None and is_registered(source):
        shape = parse_input_shape(input_shape) if isinstance(input_shape, str) else tuple(input_shape)
        import dataclasses

        card = dataclasses.replace(card, input_size=shape, crop=shape[-1])
    if input_size is not None:
        if isinstance(input_size, bool) or not isinstance(input_size, int) or not 1 <= input_size <= MAX_DIM:
            raise EdgekitError(f"input size {input_size!r} is not a whole number of pixels from 1 to {MAX_DIM}")
        card = card.with_input_size(input_size)
    _probe(model, card)
    if condition and weights is None and is_registered(source):
        import dataclasses

        from edgekit.models.conditioning import condition_batchnorm

        condition_batchnorm(model, card.input_size)
        model.eval()
        card = dataclasses.replace(card, extra={**card.extra, "weights": "random init; BatchNorm statistics from random data"})
    model.card = card
    return model, card


def _probe(model, card) -> None:
    """One batch-1 forward pass at the card's input shape: a size the network cannot take (too
    small for its strides, say) is one line here, not a traceback from deep inside a later step."""
    import torch

    shape = tuple(card.input_size)
    try:
        with torch.no_grad():
            model.eval()(torch.zeros((1, *shape)))
    except (RuntimeError, ValueError, IndexError) as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise EdgekitError(f"{card.name} cannot run on a {'x'.join(map(str, shape))} input: {first.strip()}") from None
