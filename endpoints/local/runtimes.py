"""Model runtimes: ONNX, TensorFlow SavedModel and Python callables behind one interface.

Each runtime is loaded once per endpoint and called from a thread pool with a 2-D float64
array (rows x features) or a dict of named arrays; it returns an ordered dict of named
output arrays whose first dimension is the row count. TensorFlow is imported only when a
TensorFlow model is loaded: importing it takes seconds, and a host serving ONNX or Python
models should start in well under one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from endpoints.local.errors import BadInput, ModelLoadError

__all__ = [
    "PYTHON_OPT_IN",
    "ModelRuntime",
    "OnnxRuntime",
    "PythonRuntime",
    "SelectedOutputs",
    "TensorFlowRuntime",
    "choose_runtime_kind",
    "load_runtime",
]

logger = logging.getLogger(__name__)

RUNTIME_ENV = "ENDPOINT_SERDE_RUNTIME"
HANDLER_ENV = "ENDPOINT_SERDE_PYTHON_HANDLER"
OUTPUTS_ENV = "ENDPOINT_SERDE_OUTPUTS"
RUNTIME_KINDS = ("onnx", "tensorflow", "python")
UNNAMED_OUTPUT = "score"
PYTHON_OPT_IN = (
    "Python models run their code inside the host, so it loads them only when its operator "
    "opted in at start: endpoints-local serve --allow-python-models "
    "(LocalEndpointHost(allow_python_models=True)). Restart the host so if you trust the "
    "code of every model it may be asked to load."
)
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

Inputs = np.ndarray | dict[str, np.ndarray]


class ModelRuntime(ABC):
    """A loaded model. ``input_names`` is ``None`` when the model takes one plain array."""

    kind: str = ""
    input_names: tuple[str, ...] | None = None
    input_width: int | None = None
    output_names: tuple[str, ...] = ()

    @abstractmethod
    def predict(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Run the model on a batch; raises on model failure (reported as ModelError)."""

    def close(self) -> None:
        """Release what the runtime holds (sessions, graphs)."""


def _single_array(inputs: Inputs, what: str) -> np.ndarray:
    if isinstance(inputs, dict):
        if len(inputs) != 1:
            raise BadInput(
                f"{what} takes one input, got named inputs {sorted(inputs)}; send rows of "
                "numbers instead."
            )
        inputs = next(iter(inputs.values()))
    return inputs


# ------------------------------------------------------------------------------------ python


class PythonRuntime(ModelRuntime):
    """``module:function`` taking a 2-D float64 array (or a dict of named arrays) and
    returning an array, a list, or a dict of named output arrays.

    The module is ``<module>.py`` inside the model directory (``a.b`` is ``a/b.py``), loaded
    under a unique name so two endpoints' ``model.py`` never clash. Installed modules are
    never imported as handlers: ``pickle:loads`` fed the bytes of a float array is code
    execution, whoever named it.
    """

    kind = "python"

    def __init__(self, handler: str, model_dir: Path | None) -> None:
        module_name, _, function_name = handler.partition(":")
        if not module_name or not function_name:
            raise ModelLoadError(
                f"{HANDLER_ENV} must look like 'module:function', got {handler!r}."
            )
        module = _load_module(module_name, model_dir)
        function = getattr(module, function_name, None)
        if not callable(function):
            raise ModelLoadError(
                f"Python handler {handler!r}: module {module_name!r} has no callable "
                f"{function_name!r}."
            )
        self.handler = handler
        self._function: Callable[[Any], Any] = function

    def predict(self, inputs: Inputs) -> dict[str, np.ndarray]:
        if isinstance(inputs, dict) and len(inputs) == 1:
            inputs = next(iter(inputs.values()))
        result = self._function(inputs)
        if isinstance(result, Mapping):
            return {str(name): np.asarray(value) for name, value in result.items()}
        return {UNNAMED_OUTPUT: np.asarray(result)}


def _module_file(module_name: str, model_dir: Path | None) -> Path:
    """The handler's module file, inside the model directory (links resolved)."""
    if not _MODULE_NAME.match(module_name):
        raise ModelLoadError(
            f"Python handler module {module_name!r} is not a dotted module name like "
            "'model' or 'pkg.model'."
        )
    if model_dir is None or not model_dir.is_dir():
        raise ModelLoadError(
            f"A Python model's module is a file in its model directory, but the model data "
            f"is {model_dir or 'not given'}: give a ModelDataUrl of a directory (or archive) "
            f"holding {module_name.replace('.', '/')}.py."
        )
    candidate = (model_dir / (module_name.replace(".", "/") + ".py")).resolve()
    if not candidate.is_file() or not candidate.is_relative_to(model_dir.resolve()):
        raise ModelLoadError(
            f"No {module_name.replace('.', '/')}.py in the model directory {model_dir}: a "
            "Python model's module must be a file there (installed modules are not loaded "
            "as handlers)."
        )
    return candidate


def _load_module(module_name: str, model_dir: Path | None) -> Any:
    candidate = _module_file(module_name, model_dir)
    try:
        digest = hashlib.sha1(str(candidate).encode()).hexdigest()[:12]
        safe_name = re.sub(r"\W", "_", module_name)
        unique = f"_endpoints_local_{safe_name}_{digest}"
        spec = importlib.util.spec_from_file_location(unique, candidate)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
        return module
    except Exception as exc:  # the user's module: anything can go wrong in it
        raise ModelLoadError(f"Could not import Python model module {candidate}: {exc!r}") from exc


# -------------------------------------------------------------------------------------- onnx

_ONNX_DTYPES = {
    "tensor(double)": np.float64,
    "tensor(float)": np.float32,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(string)": np.str_,
    "tensor(bool)": np.bool_,
}


class OnnxRuntime(ModelRuntime):
    """An ONNX model through onnxruntime (CPU). Inputs are cast to the model's dtypes;
    scikit-learn's ZipMap outputs (a list of dicts per row) become 2-D arrays."""

    kind = "onnx"

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelLoadError(f"onnxruntime could not load {path}: {exc}") from exc
        self._inputs = self._session.get_inputs()
        self.input_names = tuple(i.name for i in self._inputs)
        self.output_names = tuple(o.name for o in self._session.get_outputs())
        shape = self._inputs[0].shape
        if len(self._inputs) == 1 and len(shape) == 2 and isinstance(shape[1], int):
            self.input_width = shape[1]

    def _feed(self, meta: Any, value: np.ndarray) -> np.ndarray:
        dtype = _ONNX_DTYPES.get(meta.type)
        array = np.asarray(value, dtype=dtype) if dtype is not None else np.asarray(value)
        if len(meta.shape) == 2 and array.ndim == 1:
            array = array.reshape(-1, 1)
        return array

    def predict(self, inputs: Inputs) -> dict[str, np.ndarray]:
        if isinstance(inputs, dict) and len(self._inputs) > 1:
            missing = [i.name for i in self._inputs if i.name not in inputs]
            if missing:
                raise BadInput(
                    f"The model's inputs are {list(self.input_names)}; missing {missing}."
                )
            feeds = {i.name: self._feed(i, inputs[i.name]) for i in self._inputs}
        elif len(self._inputs) == 1:
            meta = self._inputs[0]
            feeds = {meta.name: self._feed(meta, _single_array(inputs, "This ONNX model"))}
        else:
            raise BadInput(
                f"The model has named inputs {list(self.input_names)}; send objects (JSON "
                "instances) with those keys."
            )
        results = self._session.run(None, feeds)
        return {name: _onnx_output(value) for name, value in zip(self.output_names, results)}


def _onnx_output(value: Any) -> np.ndarray:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        keys = sorted(value[0])
        return np.array([[row[k] for k in keys] for row in value], dtype=np.float64)
    return np.asarray(value)


# -------------------------------------------------------------------------------- tensorflow


class TensorFlowRuntime(ModelRuntime):
    """A SavedModel's ``serving_default`` signature. ``path`` may be the SavedModel dir or
    TF Serving's layout with numbered versions (the highest wins)."""

    kind = "tensorflow"

    def __init__(self, path: Path) -> None:
        model_dir = _saved_model_dir(path)
        logger.info("importing tensorflow to load %s", model_dir)
        import tensorflow as tf

        self._tf = tf
        try:
            self._loaded = tf.saved_model.load(str(model_dir))
            self._function = self._loaded.signatures["serving_default"]
        except Exception as exc:
            raise ModelLoadError(f"TensorFlow could not load {model_dir}: {exc}") from exc
        specs = self._function.structured_input_signature[1]
        self._specs = dict(sorted(specs.items()))
        self.input_names = tuple(self._specs)
        outputs = self._function.structured_outputs
        self.output_names = tuple(sorted(outputs))
        first = next(iter(self._specs.values()))
        if len(self._specs) == 1 and first.shape.rank == 2 and first.shape[1] is not None:
            self.input_width = int(first.shape[1])

    def _tensor(self, name: str, value: np.ndarray) -> Any:
        spec = self._specs[name]
        array = np.asarray(value, dtype=spec.dtype.as_numpy_dtype)
        if spec.shape.rank == 2 and array.ndim == 1:
            array = array.reshape(-1, 1)
        return self._tf.constant(array)

    def predict(self, inputs: Inputs) -> dict[str, np.ndarray]:
        if len(self._specs) == 1:
            name = self.input_names[0]
            value = inputs[name] if isinstance(inputs, dict) and name in inputs else None
            if value is None:
                value = _single_array(inputs, "This TensorFlow model")
            feeds = {name: self._tensor(name, value)}
        else:
            if not isinstance(inputs, dict) or set(self.input_names) - set(inputs):
                raise BadInput(
                    f"The model's inputs are {list(self.input_names)}; send objects (JSON "
                    "instances) with those keys."
                )
            feeds = {name: self._tensor(name, inputs[name]) for name in self.input_names}
        results = self._function(**feeds)
        return {name: results[name].numpy() for name in self.output_names}


def _saved_model_dir(path: Path) -> Path:
    if (path / "saved_model.pb").is_file():
        return path
    versions = sorted(
        (p for p in path.iterdir() if p.is_dir() and (p / "saved_model.pb").is_file()),
        key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name),
    )
    nested = [p for p in versions if p.name.isdigit()] or versions
    if not nested:
        raise ModelLoadError(f"No saved_model.pb in {path} or its version subdirectories.")
    return nested[-1]


# ------------------------------------------------------------------------- output selection


class SelectedOutputs(ModelRuntime):
    """Selects, orders and renames a runtime's outputs (``ENDPOINT_SERDE_OUTPUTS``).

    Each entry is ``name`` or ``name=source``. A bare name matches a model output of that
    name, else ``output_<name>``; when no listed name matches and the list is as long as
    the model's outputs, names are given by position (so ``label,probabilities`` renames
    scikit-learn's ``output_label,output_probability``).
    """

    def __init__(self, inner: ModelRuntime, spec: str) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.input_names = inner.input_names
        self.input_width = inner.input_width
        entries = [e.strip() for e in spec.split(",") if e.strip()]
        if not entries:
            raise ModelLoadError(f"{OUTPUTS_ENV} names no outputs: {spec!r}.")
        available = list(inner.output_names)
        mapping: dict[str, str | None] = {}
        for entry in entries:
            target, _, source = entry.partition("=")
            if source:
                mapping[target] = source
            elif target in available:
                mapping[target] = target
            elif f"output_{target}" in available:
                mapping[target] = f"output_{target}"
            else:
                mapping[target] = None
        if None in mapping.values():
            if available and len(entries) == len(available):
                mapping = dict(zip(mapping, available))
            elif available:
                unknown = [t for t, s in mapping.items() if s is None]
                raise ModelLoadError(
                    f"{OUTPUTS_ENV}={spec!r}: no model output for {unknown}; the model's "
                    f"outputs are {available}."
                )
        self._mapping = mapping
        self.output_names = tuple(mapping)

    def predict(self, inputs: Inputs) -> dict[str, np.ndarray]:
        outputs = self.inner.predict(inputs)
        selected = {}
        for target, source in self._mapping.items():
            key = source or target
            if key not in outputs:
                raise KeyError(
                    f"{OUTPUTS_ENV} selects {key!r} but the model returned {sorted(outputs)}"
                )
            selected[target] = outputs[key]
        return selected

    def close(self) -> None:
        self.inner.close()


# ------------------------------------------------------------------------------------ choose

_TF_IMAGE = re.compile(r"tensorflow[-_](inference|serving)|tensorflow", re.IGNORECASE)
_IMPORT_LOCK = threading.Lock()


def choose_runtime_kind(
    model_dir: Path | None, environment: Mapping[str, str], image: str | None
) -> str:
    """The runtime: ``ENDPOINT_SERDE_RUNTIME``, else the image URI, else the artifact."""
    explicit = environment.get(RUNTIME_ENV)
    if explicit:
        if explicit not in RUNTIME_KINDS:
            raise ModelLoadError(
                f"{RUNTIME_ENV}={explicit!r} is not a runtime; expected one of {RUNTIME_KINDS}."
            )
        return explicit
    if image and _TF_IMAGE.search(image):
        return "tensorflow"
    if environment.get(HANDLER_ENV):
        return "python"
    if model_dir is not None:
        if model_dir.is_file() and model_dir.suffix == ".onnx":
            return "onnx"
        if model_dir.is_dir():
            if next(model_dir.rglob("*.onnx"), None) is not None:
                return "onnx"
            if next(model_dir.rglob("saved_model.pb"), None) is not None:
                return "tensorflow"
            if (model_dir / "model.py").is_file():
                return "python"
    raise ModelLoadError(
        f"Cannot tell which runtime serves {model_dir}: set {RUNTIME_ENV} (onnx, tensorflow, "
        f"python) in the container Environment, or ship a *.onnx file, a SavedModel, or "
        "model.py."
    )


def _onnx_file(model_dir: Path) -> Path:
    if model_dir.is_file():
        return model_dir
    candidates = sorted(model_dir.rglob("*.onnx"))
    if not candidates:
        raise ModelLoadError(f"No *.onnx file in {model_dir}.")
    return candidates[0]


def load_runtime(
    model_dir: Path | None,
    environment: Mapping[str, str] | None = None,
    image: str | None = None,
    *,
    allow_python: bool = False,
) -> ModelRuntime:
    """Load the model in ``model_dir`` with the runtime its container definition asks for;
    a Python model only with ``allow_python`` (its code runs in this process)."""
    environment = dict(environment or {})
    kind = choose_runtime_kind(model_dir, environment, image)
    if kind == "python" and not allow_python:
        raise ModelLoadError(f"{model_dir} is a Python model. {PYTHON_OPT_IN}")
    if kind == "python":
        handler = environment.get(HANDLER_ENV, "model:predict")
        with _IMPORT_LOCK:  # imports mutate sys.modules: one at a time
            runtime: ModelRuntime = PythonRuntime(handler, model_dir)
    elif model_dir is None:
        raise ModelLoadError(f"The {kind} runtime needs a ModelDataUrl; none was given.")
    elif kind == "onnx":
        runtime = OnnxRuntime(_onnx_file(model_dir))
    else:
        runtime = TensorFlowRuntime(model_dir)
    if environment.get(OUTPUTS_ENV):
        runtime = SelectedOutputs(runtime, environment[OUTPUTS_ENV])
    logger.info("loaded %s model from %s", runtime.kind, model_dir)
    return runtime
