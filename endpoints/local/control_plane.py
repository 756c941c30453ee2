"""SageMaker's control plane (AWS JSON 1.1, ``X-Amz-Target: SageMaker.<Op>``) for models,
endpoint configs, endpoints, tags and locally registered training jobs.

Names, ARNs, statuses, list filters/pagination and error codes and wordings follow AWS
(botocore's service model; messages as AWS writes them), so code tested here behaves the
same against the real service. Differences from AWS, on purpose: one production variant
serves all traffic (the first); deleting a config or model in use is allowed, as on AWS.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from endpoints.local.deployments import EndpointManager
from endpoints.local.errors import ApiError
from endpoints.local.state import ResourceStore, arn_for, now

__all__ = ["ControlPlane"]

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
NAME_MAX = 63
DEFAULT_PAGE = 10
MAX_PAGE = 100
ENDPOINT_STATUSES = (
    "OutOfService",
    "Creating",
    "Updating",
    "SystemUpdating",
    "RollingBack",
    "InService",
    "Deleting",
    "Failed",
    "UpdateRollbackFailed",
)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def validation(message: str) -> ApiError:
    return ApiError(400, "ValidationException", message)


def _camel(field: str) -> str:
    return field[0].lower() + field[1:]


def _require(params: dict[str, Any], *fields: str) -> None:
    for field in fields:
        if params.get(field) in (None, ""):
            raise validation(
                f"1 validation error detected: Value null at '{_camel(field)}' failed to "
                "satisfy constraint: Member must not be null"
            )


def _check_name(params: dict[str, Any], field: str) -> str:
    _require(params, field)
    name = params[field]
    if not isinstance(name, str) or len(name) > NAME_MAX:
        raise validation(
            f"1 validation error detected: Value '{name}' at '{_camel(field)}' failed to "
            f"satisfy constraint: Member must have length less than or equal to {NAME_MAX}"
        )
    if not NAME_PATTERN.match(name):
        raise validation(
            f"1 validation error detected: Value '{name}' at '{_camel(field)}' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: "
            "^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
        )
    return name


class ControlPlane:
    """Dispatches ``SageMaker.<Op>`` calls to handlers; each returns the output dict."""

    def __init__(
        self,
        store: ResourceStore,
        manager: EndpointManager,
        region: str = "us-east-1",
        describe_wait_s: float = 2.0,
    ) -> None:
        self.store = store
        self.manager = manager
        self.region = region
        self.describe_wait_s = describe_wait_s
        self.operations: dict[str, Handler] = {
            "CreateModel": self.create_model,
            "DescribeModel": self.describe_model,
            "DeleteModel": self.delete_model,
            "ListModels": self.list_models,
            "CreateEndpointConfig": self.create_endpoint_config,
            "DescribeEndpointConfig": self.describe_endpoint_config,
            "DeleteEndpointConfig": self.delete_endpoint_config,
            "ListEndpointConfigs": self.list_endpoint_configs,
            "CreateEndpoint": self.create_endpoint,
            "DescribeEndpoint": self.describe_endpoint,
            "DeleteEndpoint": self.delete_endpoint,
            "ListEndpoints": self.list_endpoints,
            "UpdateEndpoint": self.update_endpoint,
            "AddTags": self.add_tags,
            "ListTags": self.list_tags,
            "DeleteTags": self.delete_tags,
            "DescribeTrainingJob": self.describe_training_job,
        }

    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = self.operations.get(operation)
        if handler is None:
            raise ApiError(
                400,
                "UnknownOperationException",
                f"The local endpoint host does not implement SageMaker.{operation}; it "
                f"implements {', '.join(sorted(self.operations))}.",
            )
        if not isinstance(params, dict):
            raise ApiError(400, "SerializationException", "Expected a JSON object body.")
        return handler(params)

    def arn(self, kind: str, name: str) -> str:
        return arn_for(kind, name, self.region)

    def _tag_on_create(self, arn: str, tags: list[dict[str, str]] | None) -> None:
        if tags:
            self.store.tags[arn] = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags]

    def _exists_error(self, what: str, kind: str, name: str) -> ApiError:
        return validation(f'Cannot create already existing {what} "{self.arn(kind, name)}".')

    def _missing(self, what: str, kind: str, name: str) -> ApiError:
        return validation(f'Could not find {what} "{self.arn(kind, name)}".')

    # ------------------------------------------------------------------------------ models

    def create_model(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _check_name(params, "ModelName")
        containers = params.get("Containers") or []
        primary = params.get("PrimaryContainer")
        if not primary and not containers:
            raise validation("Either PrimaryContainer or Containers must be specified.")
        with self.store.transaction() as store:
            if name in store.resources["models"]:
                raise self._exists_error("model", "models", name)
            arn = self.arn("models", name)
            record: dict[str, Any] = {
                "ModelName": name,
                "ModelArn": arn,
                "CreationTime": now(),
                "ExecutionRoleArn": params.get("ExecutionRoleArn", ""),
                "EnableNetworkIsolation": bool(params.get("EnableNetworkIsolation", False)),
            }
            if primary:
                record["PrimaryContainer"] = primary
            # moto (and botocore's shapes) carry these even when empty; so do we
            record["Containers"] = containers
            record["VpcConfig"] = params.get("VpcConfig", {})
            for optional in ("InferenceExecutionConfig",):
                if optional in params:
                    record[optional] = params[optional]
            store.resources["models"][name] = record
            self._tag_on_create(arn, params.get("Tags"))
        return {"ModelArn": arn}

    def describe_model(self, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, "ModelName")
        record = self.store.get("models", params["ModelName"])
        if record is None:
            raise self._missing("model", "models", params["ModelName"])
        return record

    def delete_model(self, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, "ModelName")
        name = params["ModelName"]
        with self.store.transaction() as store:
            record = store.resources["models"].pop(name, None)
            if record is None:
                raise self._missing("model", "models", name)
            store.tags.pop(record["ModelArn"], None)
        return {}

    def list_models(self, params: dict[str, Any]) -> dict[str, Any]:
        page, token = self._list("models", "ModelName", params)
        keys = ("ModelName", "ModelArn", "CreationTime")
        return self._page("Models", [{k: r[k] for k in keys} for r in page], token)

    # ---------------------------------------------------------------------- endpoint configs

    def create_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _check_name(params, "EndpointConfigName")
        _require(params, "ProductionVariants")
        variants = params["ProductionVariants"]
        if not isinstance(variants, list) or not variants:
            raise validation(
                "1 validation error detected: Value '[]' at 'productionVariants' failed to "
                "satisfy constraint: Member must have length greater than or equal to 1"
            )
        with self.store.transaction() as store:
            if name in store.resources["endpoint_configs"]:
                raise self._exists_error("endpoint configuration", "endpoint_configs", name)
            for variant in variants:
                _require(variant, "VariantName", "ModelName")
                if variant["ModelName"] not in store.resources["models"]:
                    raise self._missing("model", "models", variant["ModelName"])
            arn = self.arn("endpoint_configs", name)
            record = {
                "EndpointConfigName": name,
                "EndpointConfigArn": arn,
                "ProductionVariants": variants,
                "CreationTime": now(),
                "EnableNetworkIsolation": bool(params.get("EnableNetworkIsolation", False)),
                "DataCaptureConfig": params.get("DataCaptureConfig", {}),
            }
            for optional in ("KmsKeyId", "AsyncInferenceConfig"):
                if optional in params:
                    record[optional] = params[optional]
            store.resources["endpoint_configs"][name] = record
            self._tag_on_create(arn, params.get("Tags"))
        return {"EndpointConfigArn": arn}

    def describe_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, "EndpointConfigName")
        record = self.store.get("endpoint_configs", params["EndpointConfigName"])
        if record is None:
            raise self._missing(
                "endpoint configuration", "endpoint_configs", params["EndpointConfigName"]
            )
        return record

    def delete_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, "EndpointConfigName")
        name = params["EndpointConfigName"]
        with self.store.transaction() as store:
            record = store.resources["endpoint_configs"].pop(name, None)
            if record is None:
                raise self._missing("endpoint configuration", "endpoint_configs", name)
            store.tags.pop(record["EndpointConfigArn"], None)
        return {}

    def list_endpoint_configs(self, params: dict[str, Any]) -> dict[str, Any]:
        page, token = self._list("endpoint_configs", "EndpointConfigName", params)
        keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
        return self._page("EndpointConfigs", [{k: r[k] for k in keys} for r in page], token)

    # ---------------------------------------------------------------------------- endpoints

    def create_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _check_name(params, "EndpointName")
        _require(params, "EndpointConfigName")
        config_name = params["EndpointConfigName"]
        with self.store.transaction() as store:
            if name in store.resources["endpoints"]:
                raise self._exists_error("endpoint", "endpoints", name)
            if config_name not in store.resources["endpoint_configs"]:
                raise self._missing("endpoint configuration", "endpoint_configs", config_name)
            arn = self.arn("endpoints", name)
            stamp = now()
            store.resources["endpoints"][name] = {
                "EndpointName": name,
                "EndpointArn": arn,
                "EndpointConfigName": config_name,
                "EndpointStatus": "Creating",
                "DataCaptureConfig": {},
                "CreationTime": stamp,
                "LastModifiedTime": stamp,
            }
            self._tag_on_create(arn, params.get("Tags"))
            self.manager.schedule_create(name, config_name)
        return {"EndpointArn": arn}

    def describe_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, "EndpointName")
        name = params["EndpointName"]
        # A model loads in milliseconds to seconds; answering after it settled lets boto3's
        # waiters (30 s between polls) finish on their first poll.
        self.manager.wait_settled(name, self.describe_wait_s)
        record = self.store.get("endpoints", name)
        if record is None:
            raise self._missing("endpoint", "endpoints", name)
        return record

    def delete_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, "EndpointName")
        name = params["EndpointName"]
        with self.store.transaction() as store:
            record = store.resources["endpoints"].pop(name, None)
            if record is None:
                raise self._missing("endpoint", "endpoints", name)
            store.tags.pop(record["EndpointArn"], None)
            self.manager.remove(name)
        return {}

    def list_endpoints(self, params: dict[str, Any]) -> dict[str, Any]:
        status = params.get("StatusEquals")
        if status is not None and status not in ENDPOINT_STATUSES:
            raise validation(
                f"1 validation error detected: Value '{status}' at 'statusEquals' failed to "
                "satisfy constraint: Member must satisfy enum value set: "
                f"[{', '.join(ENDPOINT_STATUSES)}]"
            )
        page, token = self._list("endpoints", "EndpointName", params)
        keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
        return self._page("Endpoints", [{k: r[k] for k in keys} for r in page], token)

    def update_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, "EndpointName", "EndpointConfigName")
        name, config_name = params["EndpointName"], params["EndpointConfigName"]
        with self.store.transaction() as store:
            record = store.resources["endpoints"].get(name)
            if record is None:
                raise self._missing("endpoint", "endpoints", name)
            if record["EndpointStatus"] in ("Creating", "Updating", "SystemUpdating"):
                raise validation(f'Cannot update in-progress endpoint "{record["EndpointArn"]}".')
            if config_name not in store.resources["endpoint_configs"]:
                raise self._missing("endpoint configuration", "endpoint_configs", config_name)
            was_failed = record["EndpointStatus"] == "Failed"
            record["EndpointStatus"] = "Updating"
            record["LastModifiedTime"] = now()
            if was_failed:
                self.manager.schedule_create(name, config_name)
            else:
                self.manager.schedule_update(name, config_name)
        return {"EndpointArn": record["EndpointArn"]}

    # --------------------------------------------------------------------------------- tags

    def _check_arn(self, params: dict[str, Any]) -> str:
        _require(params, "ResourceArn")
        arn = params["ResourceArn"]
        if not self.store.find_arn(arn):
            raise validation(f'Could not find resource "{arn}".')
        return arn

    def add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._check_arn(params)
        _require(params, "Tags")
        with self.store.transaction() as store:
            current = {t["Key"]: t["Value"] for t in store.tags.get(arn, [])}
            for tag in params["Tags"]:
                current[tag["Key"]] = tag.get("Value", "")
            store.tags[arn] = [{"Key": k, "Value": v} for k, v in current.items()]
        return {"Tags": params["Tags"]}

    def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._check_arn(params)
        tags = list(self.store.tags.get(arn, []))
        start = _decode_token(params.get("NextToken"))
        size = _page_size(params, default=50)
        page = tags[start : start + size]
        token = _encode_token(start + size) if start + size < len(tags) else None
        return self._page("Tags", page, token)

    def delete_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._check_arn(params)
        _require(params, "TagKeys")
        drop = set(params["TagKeys"])
        with self.store.transaction() as store:
            store.tags[arn] = [t for t in store.tags.get(arn, []) if t["Key"] not in drop]
        return {}

    # -------------------------------------------------------------------------- training jobs

    def register_training_job(
        self, name: str, model_data_url: str, image: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Record a Completed training job whose artifact is ``model_data_url``."""
        stamp = now()
        record = {
            "TrainingJobName": name,
            "TrainingJobArn": self.arn("training_jobs", name),
            "ModelArtifacts": {"S3ModelArtifacts": model_data_url},
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "AlgorithmSpecification": {"TrainingImage": image or "", "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::123456789012:role/local",
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
            "CreationTime": stamp,
            "TrainingStartTime": stamp,
            "TrainingEndTime": stamp,
            "LastModifiedTime": stamp,
            **extra,
        }
        with self.store.transaction() as store:
            store.resources["training_jobs"][name] = record
        return record

    def describe_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, "TrainingJobName")
        record = self.store.get("training_jobs", params["TrainingJobName"])
        if record is None:
            raise ApiError(400, "ResourceNotFound", "Requested resource not found.")
        return record

    # ------------------------------------------------------------------------------ listing

    def _list(
        self, kind: str, name_key: str, params: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None]:
        records = self.store.all(kind)
        contains = params.get("NameContains")
        if contains:
            records = [r for r in records if contains.lower() in r[name_key].lower()]
        if params.get("StatusEquals"):
            records = [r for r in records if r.get("EndpointStatus") == params["StatusEquals"]]
        for key, field, before in (
            ("CreationTimeBefore", "CreationTime", True),
            ("CreationTimeAfter", "CreationTime", False),
            ("LastModifiedTimeBefore", "LastModifiedTime", True),
            ("LastModifiedTimeAfter", "LastModifiedTime", False),
        ):
            if params.get(key) is not None:
                bound = float(params[key])
                records = [r for r in records if (r[field] < bound) == before]
        sort_by = params.get("SortBy", "CreationTime")
        sort_key = {"Name": name_key, "CreationTime": "CreationTime", "Status": "EndpointStatus"}
        if sort_by not in sort_key:
            raise validation(
                f"1 validation error detected: Value '{sort_by}' at 'sortBy' failed to satisfy "
                "constraint: Member must satisfy enum value set: [Name, CreationTime, Status]"
            )
        order = params.get("SortOrder", "Descending")
        if order not in ("Ascending", "Descending"):
            raise validation(
                f"1 validation error detected: Value '{order}' at 'sortOrder' failed to "
                "satisfy constraint: Member must satisfy enum value set: [Ascending, Descending]"
            )
        records.sort(
            key=lambda r: (r[sort_key[sort_by]], r[name_key]), reverse=order == "Descending"
        )
        start = _decode_token(params.get("NextToken"))
        size = _page_size(params, default=DEFAULT_PAGE)
        page = records[start : start + size]
        token = _encode_token(start + size) if start + size < len(records) else None
        return page, token

    @staticmethod
    def _page(key: str, items: list[Any], token: str | None) -> dict[str, Any]:
        result: dict[str, Any] = {key: items}
        if token:
            result["NextToken"] = token
        return result


def _page_size(params: dict[str, Any], default: int) -> int:
    size = params.get("MaxResults", default)
    if not isinstance(size, int) or not 1 <= size <= MAX_PAGE:
        raise validation(
            f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy "
            f"constraint: Member must have value between 1 and {MAX_PAGE}"
        )
    return size


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "offset":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise validation(f'Invalid pagination token "{token}".') from None
