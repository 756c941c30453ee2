"""Scoring a DataFrame: ``SageMakerModel`` (the ``pyspark.ml`` Model), the per-partition
engine beneath it, its adaptive in-flight window and its metrics."""
