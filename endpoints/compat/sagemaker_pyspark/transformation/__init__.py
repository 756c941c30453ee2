"""sagemaker_pyspark's ``transformation`` package: its built-in SerDes, by the same names
and keyword arguments (``serializers``, ``deserializers``)."""

from endpoints.compat.sagemaker_pyspark.transformation import deserializers, serializers

__all__ = ["deserializers", "serializers"]
