"""Scoring with a SageMaker Batch Transform job instead of a live endpoint.

``SageMakerModel.from_batch_transform(BatchTransform(...), ...)`` gives a model whose
``transform`` stages the rows to S3 with the same serializer, runs one transform job,
and reads the answers back in order with the same deserializer: ``options`` (what a user
configures), ``staging`` (rows → S3 objects), ``runner`` (the job), ``readback`` (.out →
rows), ``s3`` (the S3 calls).
"""

from endpoints.batch.options import BatchTransform
from endpoints.batch.runner import BatchTransformRunner, ModelData

__all__ = ["BatchTransform", "BatchTransformRunner", "ModelData"]
