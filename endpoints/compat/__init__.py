"""Compatibility layers: other libraries' Python APIs on top of this one.

:mod:`endpoints.compat.sagemaker_pyspark` lets code written for ``sagemaker_pyspark`` run
with only its import lines changed (``sagemaker_pyspark`` → ``endpoints.compat.
sagemaker_pyspark``). It lives inside ``endpoints`` so it can never shadow the real
package when both are installed.
"""
