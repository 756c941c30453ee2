"""The local endpoint host: SageMaker's control plane and runtime, TF Serving REST and the
container contract on 127.0.0.1, serving real ONNX, TensorFlow and Python models, with
deterministic fault injection for tests.

>>> from endpoints.local import FaultSpec, LocalEndpointHost
"""

from __future__ import annotations

from endpoints.local.faults import FaultSpec
from endpoints.local.process import LocalHostProcess
from endpoints.local.server import LocalEndpointHost

__all__ = ["FaultSpec", "LocalEndpointHost", "LocalHostProcess"]
