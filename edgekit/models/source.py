"""Resolve a model source string to an eval-mode nn.Module with a card attached.

Sources: a zoo name (`micronet-m0`), a Python file and factory (`path/to/net.py:build`), or an
importable module and factory (`mypkg.nets:build`). Models without a card need an input shape.
"""

from __future__ import annotations

import importlib
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
        from edgekit.usercode import import_file

        module = import_file(target)
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


def _input_args(input_shape, inputs) -> list[str] | None:
    """The several-input form of the command line: repeated --input-shape, or any --input NAME=SHAPE."""
    shapes = list(input_shape) if isinstance(input_shape, (list,)) else ([] if input_shape is None else [input_shape])
    named = list(inputs or [])
    if named and len(shapes) and not all(isinstance(s, str) for s in shapes):
        raise EdgekitError("give the inputs either as --input NAME=SHAPE or as --input-shape, not both")
    if named and shapes:
        raise EdgekitError("give the inputs either as --input NAME=SHAPE or as --input-shape, not both")
    if named:
        return [str(a) for a in named]
    if len(shapes) > 1:
        return [s if isinstance(s, str) else ",".join(map(str, s)) for s in shapes]
    if len(shapes) == 1 and isinstance(shapes[0], str):
        try:
            parse_input_shape(shapes[0])
        except EdgekitError:  # not an image or clip (a feature sequence C,T, say): the general form
            from edgekit.models.io_spec import parse_shape

            parse_shape(shapes[0], f"--input-shape {shapes[0]!r}")
            return shapes
    return None


def _fill_token_ranges(model, io):
    """Integer inputs with no declared range get [0, smallest nn.Embedding vocabulary) — ids inside
    every table the model has — or [0, 2) when it has none."""
    import dataclasses

    import torch

    vocab = [m.num_embeddings for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    hi = min(vocab) if vocab else 2
    specs = tuple(dataclasses.replace(s, range=(0, hi)) if s.is_integer and s.range is None else s for s in io.inputs)
    return dataclasses.replace(io, inputs=specs)


def load_model(source: str, weights: str | None = None, num_classes: int | None = None,
               input_size: int | None = None, input_shape: str | tuple | list | None = None, condition: bool = True,
               inputs: list[str] | None = None, condition_user: bool = False):
    """The model and its card (also attached as `model.card`).

    Several inputs: `inputs` (['image=3,64,64', 'tokens=12:int64'], the CLI's --input) or a list of
    `input_shape`s in forward's order (names from forward's parameters); the card's IO spec
    (`card.io`) then names every input and output, probed from one forward pass.

    A zoo model without weights gets BatchNorm statistics from random data (`condition`), so
    its outputs are O(1) like a trained model's; the card's `extra["weights"]` records it.
    """
    multi = _input_args(input_shape, inputs)
    if multi is not None:
        input_shape = None
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
        if not isinstance(card, Card) and multi is not None:
            card = Card(name=source)
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
    if multi is not None:
        from edgekit.models.io_spec import io_from_args

        io = io_from_args(model, multi, source)
        card = card.with_io(io)
        if io.inputs[0].kind == "image":
            card = dataclasses_replace(card, crop=io.inputs[0].shape[-1], resize=io.inputs[0].shape[-1])
    if input_size is not None:
        if isinstance(input_size, bool) or not isinstance(input_size, int) or not 1 <= input_size <= MAX_DIM:
            raise EdgekitError(f"input size {input_size!r} is not a whole number of pixels from 1 to {MAX_DIM}")
        card = card.with_input_size(input_size)
    card = _probe(model, card, source)
    if condition_user and not is_registered(source):  # --condition: an untrained user model, as the zoo
        import dataclasses

        from edgekit.models.conditioning import condition_batchnorm

        condition_batchnorm(model, card.input_size if card.io.is_single else card.io)
        model.eval()
        card = dataclasses.replace(card, extra={**card.extra, "weights": "BatchNorm statistics set from random data "
                                                                          "(--condition)"})
    if condition and weights is None and is_registered(source):
        import dataclasses

        from edgekit.models.conditioning import condition_batchnorm

        condition_batchnorm(model, card.input_size if card.io.is_single else card.io)
        model.eval()
        card = dataclasses.replace(card, extra={**card.extra, "weights": "random init; BatchNorm statistics from random data"})
    model.card = card
    return model, card


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


def _probe(model, card, source: str = ""):
    """One batch-1 forward pass at the card's inputs: a size the network cannot take (too small for its
    strides, say) or a missing input is one line here, not a traceback from deep inside a later step.
    Returns the card with its IO spec completed (token ranges; output names when there are several)."""
    import torch

    from edgekit.models.examples import example_inputs, flatten_outputs, output_names_of
    from edgekit.models.io_spec import OutputSpec, forward_parameters, required_parameters

    io = _fill_token_ranges(model, card.io)
    required = required_parameters(model)
    if len(required) > len(io.inputs):
        given = ", ".join(io.input_names)
        raise EdgekitError(f"{card.name}: forward() takes {len(required)} inputs ({', '.join(required)}); "
                           f"given {len(io.inputs)} ({given}): give each as --input NAME=SHAPE[:DTYPE]")
    params = forward_parameters(model)
    if params and len(io.inputs) > len(params) and not _has_varargs(model):
        raise EdgekitError(f"{card.name}: forward() takes {len(params)} input(s) ({', '.join(params)}), "
                           f"{len(io.inputs)} given")
    xs = example_inputs(io)
    try:
        with torch.no_grad():
            y = model.eval()(*xs)
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        what = " + ".join(f"{s.name} {'x'.join(map(str, s.shape))}" + ("" if s.dtype == "float32" else f" {s.dtype}")
                          for s in io.inputs) if not io.is_single else f"a {'x'.join(map(str, io.inputs[0].shape))}"
        raise EdgekitError(f"{card.name} cannot run on {what} input: {first.strip()}") from None
    try:
        flat = flatten_outputs(y)
    except TypeError as exc:
        raise EdgekitError(f"{card.name}: {exc}") from None
    if not flat:
        raise EdgekitError(f"{card.name}: forward() returned no tensor")
    if len(flat) > 1 or not io.is_single or card.outputs:
        names = output_names_of(y, io)
        kinds = {s.name: s for s in io.outputs}
        outs = tuple(kinds.get(n, OutputSpec(n, "logits" if len(flat) == 1 else "tensor")) for n in names)
        card = card.with_io(io.with_outputs(outs))
    return card


def _has_varargs(model) -> bool:
    import inspect

    try:
        return any(p.kind == p.VAR_POSITIONAL for p in inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return False
