"""endpoints.failures and endpoints.clients.transport: failed answers → error classes,
Retry-After, Secret, the Endpoint base."""

from __future__ import annotations

import logging
import pickle

import pytest

from endpoints.clients.specs import endpoint_from_spec
from endpoints.clients.transport import Endpoint, Secret
from endpoints.errors import (
    EndpointAccessError,
    InvocationError,
    ModelError,
    RejectedError,
    RetryableError,
    ServerError,
    ThrottledError,
)
from endpoints.failures import error_for_response, from_backend_error, parse_retry_after
from endpoints.retry import RetryPolicy
from serde.errors import UnknownSerDeError


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "ThrottlingException", ThrottledError),  # SageMaker throttles with a 400
        (429, "ModelNotReadyException", ThrottledError),
        (429, None, ThrottledError),
        (503, None, ThrottledError),
        (503, "ServiceUnavailable", ThrottledError),
        (400, "TooManyRequestsException", ThrottledError),
        (500, None, ServerError),
        (500, "InternalFailure", ServerError),
        (502, None, ServerError),
        (504, None, ServerError),
        (424, "ModelError", ModelError),
        (424, None, ModelError),
        (400, "ModelError", ModelError),
        (400, "ValidationError", RejectedError),
        (413, None, RejectedError),  # a smaller body may pass: bisection can help
        (404, "ValidationError", EndpointAccessError),
        (404, None, EndpointAccessError),  # no such route on a plain HTTP server
        (401, None, EndpointAccessError),
        (403, "AccessDeniedException", EndpointAccessError),
        (400, "UnrecognizedClientException", EndpointAccessError),
        (400, "ExpiredTokenException", EndpointAccessError),
    ],
)
def test_error_for_response_classification(status, code, expected):
    error = error_for_response(
        endpoint="sagemaker:ep", status=status, code=code, message="detail", retry_after=1.5
    )
    assert type(error) is expected
    assert (error.endpoint, error.status, error.code, error.detail) == (
        "sagemaker:ep",
        status,
        code,
        "detail",
    )
    code_part = f" {code}" if code else ""
    assert str(error) == f"endpoint 'sagemaker:ep' HTTP {status}{code_part}: detail"
    # the retry policy follows the classification: throttles and 5xx yes, 4xx no
    assert RetryPolicy().is_retryable(error) is issubclass(expected, RetryableError)
    # classified errors cross the Spark worker boundary intact
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is expected
    assert str(copy) == str(error)
    assert copy.retry_after == error.retry_after


def test_a_missing_sagemaker_endpoint_is_an_access_error_not_a_bad_body():
    # what InvokeEndpoint answers for an endpoint that does not exist (or was deleted)
    gone = error_for_response(
        endpoint="sagemaker:ep",
        status=400,
        code="ValidationError",
        message="Endpoint ep of account 123456789012 not found.",
    )
    assert type(gone) is EndpointAccessError
    assert gone.kind == "endpoint_access"
    other = error_for_response(
        endpoint="sagemaker:ep", status=400, code="ValidationError", message="bad CSV in row 3"
    )
    assert type(other) is RejectedError


def test_botocore_failures_are_translated_once_with_their_details():
    from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

    throttle = ClientError(
        {
            "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {"retry-after": "2"}},
        },
        "InvokeEndpoint",
    )
    error = from_backend_error(throttle, "sagemaker:ep")
    assert (type(error), error.status, error.code, error.detail, error.retry_after) == (
        ThrottledError,
        400,
        "ThrottlingException",
        "Rate exceeded",
        2.0,
    )
    model = ClientError(
        {
            "Error": {"Code": "ModelError", "Message": "Received client error (400)"},
            "OriginalMessage": "cannot parse row",
            "ResponseMetadata": {"HTTPStatusCode": 424},
        },
        "InvokeEndpoint",
    )
    assert from_backend_error(model).detail == (
        "Received client error (400) (model said: cannot parse row)"
    )
    refused = from_backend_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert (refused.kind, refused.maybe_processed) == ("transport", False)
    dropped = from_backend_error(ReadTimeoutError(endpoint_url="http://127.0.0.1:1"))
    assert (dropped.kind, dropped.maybe_processed) == ("transport", True)
    assert from_backend_error(KeyError("a bug, not a failure of the service")) is None


def test_retry_after_is_kept_on_retryable_errors_only():
    kwargs = dict(endpoint="e", message="m", retry_after=3.0)
    assert error_for_response(status=429, code=None, **kwargs).retry_after == 3.0
    assert error_for_response(status=500, code=None, **kwargs).retry_after == 3.0
    assert error_for_response(status=400, code="ValidationError", **kwargs).retry_after is None
    assert error_for_response(status=424, code="ModelError", **kwargs).retry_after is None


def test_model_error_is_a_rejection_and_no_error_is_both():
    assert issubclass(ModelError, RejectedError)
    assert not issubclass(RejectedError, RetryableError)
    assert issubclass(ThrottledError, InvocationError)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("1.5", 1.5),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("-2", 0.0),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),  # HTTP-date form is ignored
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header) == seconds


# --- Secret ------------------------------------------------------------------------------


def test_secret_never_shows_itself(caplog):
    secret = Secret("hunter2-token")
    masked = "'**********'"
    assert repr(secret) == masked
    assert str(secret) == masked
    assert f"{secret}" == masked
    assert f"{secret!r}" == masked
    assert "%s" % secret == masked  # noqa: UP031 - the %-format path is what logging uses
    assert "{}".format(secret) == masked  # noqa: UP032
    assert repr({"Authorization": secret}) == "{'Authorization': " + masked + "}"
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("header %s in %r", secret, [secret])
    assert "hunter2" not in caplog.text
    error = ValueError(f"bad header {secret}")
    assert "hunter2" not in str(error)
    assert not hasattr(secret, "__dict__")  # no vars() leak either
    assert secret.reveal() == "hunter2-token"


def test_secret_pickles_round_trip_and_compares_by_value():
    secret = Secret("hunter2-token")
    copy = pickle.loads(pickle.dumps(secret))
    assert copy == secret
    assert copy is not secret
    assert copy.reveal() == "hunter2-token"
    assert hash(copy) == hash(secret)
    assert secret != Secret("other")
    assert secret != "hunter2-token"  # never equal to the plain string it hides
    assert len({secret, copy}) == 1


# --- the Endpoint base class ---------------------------------------------------------------


class EchoEndpoint(Endpoint):
    name = "echo"

    def __init__(self) -> None:
        self.closed = 0

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        return body

    def close(self) -> None:
        self.closed += 1


def test_endpoint_base_defaults():
    endpoint = EchoEndpoint()
    with endpoint as same:
        assert same is endpoint
        assert same.invoke(b"x", "text/csv", "text/csv") == b"x"
    assert endpoint.closed == 1
    with pytest.raises(NotImplementedError, match="EchoEndpoint cannot be saved"):
        endpoint.to_spec()


def test_endpoint_from_spec_refuses_unknown_kinds_naming_the_known_ones():
    with pytest.raises(UnknownSerDeError) as info:
        endpoint_from_spec({"kind": "grpc", "options": {}})
    message = str(info.value)
    # other tests of the session may have registered kinds of their own
    assert message.startswith("no endpoint_kind registered as 'grpc'; known: ")
    assert "http, sagemaker" in message
    assert message.endswith(
        "Register one with register_endpoint_kind('grpc') or install the package providing it"
    )
