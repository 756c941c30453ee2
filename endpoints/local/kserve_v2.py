"""KServe V2 (Open Inference Protocol) on the local host: ``POST /v2/models/{name}/infer``.

A V2 request names typed tensors; the host turns them into what its runtimes take — one
input becomes the usual ``rows x features`` array (numbers as float64, a ``[rows]`` tensor
as one column), several become a dict of named arrays — and answers every output (or the
ones the request names) as a tensor of its own shape::

    {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": [...]}],
     "outputs": [{"name": "label"}]}                          optional
    → {"model_name": "...", "id": "...", "outputs": [{"name": "label", "shape": [2],
       "datatype": "INT64", "data": [0, 2]}]}

Bad requests raise :class:`~endpoints.local.errors.BadInput` naming the input and what was
expected; a shape is checked against its data before anything is allocated, so the 6 MB
body cap bounds every tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from endpoints.local.codecs import ModelInput, Outputs
from endpoints.local.errors import BadInput
from endpoints.local.runtimes import ModelRuntime

__all__ = [
    "INFER_MEDIA_TYPE",
    "ROUTES",
    "SERVER_ANSWERS",
    "InferRequest",
    "decode_infer_request",
    "encode_infer_response",
    "model_metadata",
]

#: The host's own key for the V2 protocol, which it routes by path; on the wire a V2
#: body is ``application/json``.
INFER_MEDIA_TYPE = "application/x-kserve-v2-infer+json"

#: Each V2 datatype: the numpy kinds its JSON data may decode to, and how to say so.
_KINDS_OF = {
    "BOOL": ("b", "booleans"),
    **{f"{s}INT{bits}": ("iu", "integers") for s in ("", "U") for bits in (8, 16, 32, 64)},
    **{f"FP{bits}": ("iuf", "numbers") for bits in (16, 32, 64)},
    "BYTES": ("U", "strings"),
}
_DATATYPES = tuple(_KINDS_OF)

#: What the host answers on the server-wide V2 routes (it answers at all once it runs).
SERVER_ANSWERS = {
    "/v2": orjson.dumps({"name": "endpoints-local", "version": "1", "extensions": []}),
    "/v2/health/live": b'{"live":true}',
    "/v2/health/ready": b'{"ready":true}',
}
ROUTES = (
    "this host serves POST /v2/models/<name>[/versions/<v>]/infer, GET /v2/models/<name>"
    "[/versions/<v>][/ready], GET /v2/health/live, /v2/health/ready and /v2 (an endpoint's "
    "name is the model name)."
)


@dataclass(frozen=True)
class InferRequest(ModelInput):
    """A decoded V2 request: the model input, plus the request's ``id`` (echoed in the
    answer) and the output names it asks for (``None``: every output)."""

    id: str | None = None
    outputs: tuple[str, ...] | None = None


def decode_infer_request(body: bytes) -> InferRequest:
    """A V2 inference request body → the model's input."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"Request body is not valid JSON: {exc}.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise BadInput(
            'Expected a V2 inference request {"inputs": [{"name", "shape", "datatype", '
            '"data"}, ...]}, got '
            + (
                f"an object with keys {sorted(payload)[:5]}."
                if isinstance(payload, dict)
                else f"{type(payload).__name__}."
            )
        )
    inputs = payload["inputs"]
    if not inputs:
        raise BadInput('"inputs" must hold at least one tensor.')
    arrays = {}
    for k, tensor in enumerate(inputs):
        name, array = _input_tensor(k, tensor)
        if name in arrays:
            raise BadInput(f"Input {name!r} appears twice in the request.")
        arrays[name] = array
    rows = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(rows.values())) != 1:
        raise BadInput(
            f"Every input's first dimension is the row count and must agree, got {rows}."
        )
    data: np.ndarray | dict[str, np.ndarray] = arrays
    if len(arrays) == 1:
        data = next(iter(arrays.values()))
        if data.ndim == 1:
            data = data.reshape(-1, 1)
    request_id = payload.get("id")
    return InferRequest(
        data,
        next(iter(rows.values())),
        id=request_id if isinstance(request_id, str) else None,
        outputs=_requested_outputs(payload.get("outputs")),
    )


def _input_tensor(k: int, tensor: Any) -> tuple[str, np.ndarray]:
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise BadInput(
            f'inputs[{k}] must be an object with "name", "shape", "datatype" and "data".'
        )
    name = tensor["name"]
    shape = tensor.get("shape")
    if type(shape) is not list or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise BadInput(
            f"Input {name!r}: shape must be a list of sizes, the first the row count, got "
            f"{shape!r:.80}."
        )
    datatype = tensor.get("datatype")
    if datatype not in _DATATYPES:
        raise BadInput(
            f"Input {name!r}: datatype {datatype!r:.40} is not one of {', '.join(_DATATYPES)}."
        )
    data = tensor.get("data")
    if type(data) is not list:
        raise BadInput(f"Input {name!r}: data must be a list, got {type(data).__name__}.")
    kinds, what = _KINDS_OF[datatype]
    try:  # flat or nested in row-major order; nested lists must be rectangular
        array = np.asarray(data).reshape(-1) if data else np.zeros(0, dtype=np.float64)
    except ValueError:
        raise BadInput(f"Input {name!r}: nested data must be rectangular.") from None
    if data and array.dtype.kind not in kinds:
        raise BadInput(f"Input {name!r} is {datatype}: its data must be {what}.")
    expected = math.prod(shape)
    if array.size != expected:
        raise BadInput(
            f"Input {name!r} has shape {shape} ({expected} values) but its data holds {array.size}."
        )
    if datatype == "BYTES":
        return name, array.astype(np.str_).reshape(shape)
    # numbers go to the runtimes as float64, as on every other path of the host
    return name, array.astype(np.float64).reshape(shape)


def _requested_outputs(outputs: Any) -> tuple[str, ...] | None:
    if outputs is None:
        return None
    if type(outputs) is not list or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise BadInput('"outputs" must be a list of objects with a "name".')
    return tuple(o["name"] for o in outputs) or None


def model_metadata(name: str, runtime: ModelRuntime) -> bytes:
    """``GET /v2/models/{name}``: the model's name and runtime. Tensor metadata is left
    empty, as MLServer leaves it without a model signature: the runtimes know names, not
    the shapes and datatypes V2 metadata must state."""
    return orjson.dumps(
        {"name": name, "versions": [], "platform": runtime.kind, "inputs": [], "outputs": []}
    )


def encode_infer_response(outputs: Outputs, request: InferRequest, model_name: str) -> bytes:
    """The V2 answer: each output the request asks for (all, in the model's order, if it
    names none) as a tensor of the array's own shape and datatype."""
    names = list(outputs) if request.outputs is None else list(request.outputs)
    unknown = [n for n in names if n not in outputs]
    if unknown:
        raise BadInput(
            f"The request asks for outputs {unknown}; the model's outputs are {list(outputs)}."
        )
    tensors = [_output_tensor(name, np.asarray(outputs[name])) for name in names]
    answer: dict[str, Any] = {"model_name": model_name}
    if request.id is not None:
        answer["id"] = request.id
    answer["outputs"] = tensors
    return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


def _output_tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    """One output as a V2 tensor: numbers keep their width (float16 goes out as FP32,
    which orjson writes), anything else goes out as strings (BYTES)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    kind = flat.dtype.kind
    if kind == "f" and flat.dtype.itemsize < 4:
        flat = flat.astype(np.float32)
    prefix = {"b": "BOOL", "i": "INT", "u": "UINT", "f": "FP"}.get(kind)
    if prefix is None:
        datatype, data = "BYTES", [str(v) for v in flat.tolist()]
    else:
        datatype = prefix if kind == "b" else f"{prefix}{flat.dtype.itemsize * 8}"
        data = flat
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}
