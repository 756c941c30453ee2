"""Endpoint clients: the ``Endpoint`` interface and its SageMaker-runtime and HTTP kinds.

Like transports beneath an HTTP client: the scoring engine sees only ``Endpoint.invoke``
and the error classes of :mod:`endpoints.errors`.
"""
