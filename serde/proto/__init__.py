"""Generated protobuf messages of SageMaker's "aialgs" Record format.

``record_pb2`` is generated from ``record.proto`` (the command is at the top of that file)
and committed, so installing the package needs no protobuf compiler.
"""

from serde.proto import record_pb2

__all__ = ["record_pb2"]
