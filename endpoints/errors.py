"""Errors raised by the endpoints package.

::

    serde.errors.EndpointSerdeError           the root of everything endpoint-serde raises
    └── EndpointsError
        ├── ConfigurationError (ValueError)       bad arguments, output/input column clash
        ├── InvocationError                       one request to an endpoint failed
        │   ├── RetryableError                    worth trying again
        │   │   ├── ThrottledError                429, 503, ThrottlingException, ModelNotReady
        │   │   ├── ServerError                   other 5xx
        │   │   └── TransportError                timeout, dropped or refused connection
        │   └── RejectedError                     4xx: the request itself is bad; not retried
        │       ├── ModelError                    the model raised (SageMaker's 424)
        │       └── EndpointAccessError           no such endpoint, or no right to call it
        ├── RetriesExhaustedError                 a retryable failure that kept coming back
        ├── ResultCountMismatchError              a response with more or fewer results than rows
        ├── HostingError                          creating models / endpoints
        │   ├── EndpointCreationError             the endpoint went Failed or never InService
        │   └── TransformJobError                 a Batch Transform job failed or left rows out
        ├── CleanupError                          deletions that failed, after trying them all
        └── TrainingNotSupportedError             a sagemaker_pyspark estimator: this library
            (NotImplementedError)                 scores, the SageMaker SDK trains

Backend errors (botocore's ``ClientError``, urllib3's exceptions) are translated at the
endpoint client boundary, by :mod:`endpoints.failures`, into these, so retries
(:func:`endpoints.retry.call_with_retries`) and bisection see one vocabulary whatever the
endpoint kind. Every error carries ``kind`` (class-level, the error column's ``kind``),
``attempts`` and ``status`` as plain fields.
"""

from __future__ import annotations

from typing import Any

from serde.errors import EndpointSerdeError

__all__ = [
    "CleanupError",
    "ConfigurationError",
    "EndpointAccessError",
    "EndpointCreationError",
    "EndpointSerdeError",
    "EndpointsError",
    "HostingError",
    "InvocationError",
    "ModelError",
    "RejectedError",
    "ResultCountMismatchError",
    "RetriesExhaustedError",
    "RetryableError",
    "ServerError",
    "ThrottledError",
    "TrainingNotSupportedError",
    "TransformJobError",
    "TransportError",
]


class EndpointsError(EndpointSerdeError):
    """Root of every error this package raises."""

    #: the HTTP status of the answer behind this error, when there was one
    status: int | None = None


class ConfigurationError(EndpointsError, ValueError):
    """Arguments or schemas that cannot work; raised before any request is sent."""

    kind = "configuration"
    attempts = 0


class InvocationError(EndpointsError):
    """A request to an endpoint failed.

    ``status`` is the HTTP status (``None`` when no response came), ``code`` the error
    code the service gave (``ThrottlingException``, ``ModelError``...), ``retry_after`` the
    seconds the server asked us to wait, if it did.
    """

    kind = "invocation"

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.detail = message
        self.attempts = attempts
        super().__init__(self._render())

    def same_failure(self, other: BaseException) -> bool:
        """Whether ``other`` is this failure again (same class, status, code and message):
        two halves of a body refused alike were refused for something no row holds."""
        return (
            type(other) is type(self)
            and isinstance(other, InvocationError)
            and (other.status, other.code, other.detail) == (self.status, self.code, self.detail)
        )

    def _render(self) -> str:
        head = []
        if self.endpoint:
            head.append(f"endpoint {self.endpoint!r}")
        if self.status is not None:
            head.append(f"HTTP {self.status}")
        if self.code:
            head.append(self.code)
        return f"{' '.join(head)}: {self.detail}" if head else self.detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type, state: dict[str, Any]) -> Exception:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._render())
    return err


class RetryableError(InvocationError):
    kind = "retryable"


class ThrottledError(RetryableError):
    kind = "throttled"


class ServerError(RetryableError):
    kind = "server"


class TransportError(RetryableError):
    """No usable response: timeout, reset, refused. ``maybe_processed`` is True when the
    request was fully sent, so the endpoint may have run it (inference is assumed
    idempotent, so we retry either way, and count it)."""

    kind = "transport"

    def __init__(self, message: str, *, maybe_processed: bool = True, **kwargs: Any) -> None:
        self.maybe_processed = maybe_processed
        super().__init__(message, **kwargs)


class RejectedError(InvocationError):
    kind = "rejected"


class ModelError(RejectedError):
    kind = "model"


class EndpointAccessError(RejectedError):
    """The endpoint cannot be called as addressed — it does not exist, or these credentials
    may not call it. No row causes this, so a body refused with it is never bisected."""

    kind = "endpoint_access"


class RetriesExhaustedError(EndpointsError):
    """Gave up: ``last_error`` is the final failure, ``attempts`` how many were made."""

    def __init__(self, last_error: InvocationError, attempts: int, reason: str) -> None:
        self.kind = f"retries_exhausted:{last_error.kind}"
        self.status = last_error.status
        self.last_error = last_error
        self.attempts = attempts
        self.reason = reason
        super().__init__(f"gave up after {attempts} attempts ({reason}): {last_error}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.last_error, self.attempts, self.reason))


class ResultCountMismatchError(EndpointsError):
    """The endpoint answered a batch of ``sent`` rows with ``received`` results.

    Never papered over: shifting results onto the wrong rows is the failure this library
    exists to prevent.
    """

    kind = "count_mismatch"

    def __init__(
        self, *, endpoint: str, partition: int | None, batch: int, sent: int, received: int
    ) -> None:
        self.endpoint = endpoint
        self.partition = partition
        self.batch = batch
        self.sent = sent
        self.received = received
        super().__init__(
            f"endpoint {endpoint!r} answered batch {batch} of partition {partition} with "
            f"{received} results for {sent} rows; results cannot be matched to rows. Check "
            "that the deserializer reads the endpoint's response format (one result per row)"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_mismatch,
            (self.endpoint, self.partition, self.batch, self.sent, self.received),
        )


def _rebuild_mismatch(endpoint, partition, batch, sent, received):
    return ResultCountMismatchError(
        endpoint=endpoint, partition=partition, batch=batch, sent=sent, received=received
    )


class HostingError(EndpointsError):
    """Creating or describing SageMaker hosting resources failed."""

    kind = "hosting"


class EndpointCreationError(HostingError):
    """The endpoint did not reach InService. ``created`` lists what exists and needs
    cleaning (a ``CreatedResources``)."""

    def __init__(self, message: str, created: Any = None) -> None:
        self.created = created
        super().__init__(message)


class TransformJobError(HostingError):
    """A Batch Transform job failed, timed out, or wrote no output for some staged rows.
    ``job_name``; ``objects``: the input objects without output (``s3://`` URIs)."""

    kind = "transform_job"

    def __init__(self, message: str, *, job_name: str | None = None, objects: Any = ()) -> None:
        self.job_name = job_name
        self.objects = tuple(objects)
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_transform_job_error, (self.args[0], self.job_name, self.objects))


def _rebuild_transform_job_error(message, job_name, objects):
    return TransformJobError(message, job_name=job_name, objects=objects)


class CleanupError(EndpointsError):
    """Some deletions failed; ``report`` says which, after every one was tried."""

    kind = "cleanup"

    def __init__(self, message: str, report: Any = None) -> None:
        self.report = report
        super().__init__(message)


class TrainingNotSupportedError(EndpointsError, NotImplementedError):
    """A sagemaker_pyspark training API (an estimator's ``fit``) was called through
    :mod:`endpoints.compat.sagemaker_pyspark`: training belongs to the SageMaker Python SDK,
    whose trained model this library then scores."""
