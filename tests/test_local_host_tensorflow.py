"""A real (tiny) Keras model exported as a SavedModel, served by the local host's
TensorFlow runtime: predictions over HTTP equal the in-process model's."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
import urllib3

from endpoints.local import LocalEndpointHost

pytestmark = pytest.mark.tensorflow

TF_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(7)
    inputs = tf.keras.Input(shape=(3,), name="features")
    outputs = tf.keras.layers.Dense(2, activation="softmax", name="scores")(inputs)
    model = tf.keras.Model(inputs, outputs)
    root = tmp_path_factory.mktemp("tf-model")
    model.export(str(root / "1"), verbose=False)  # TF Serving's numbered-version layout
    return model, root


@pytest.fixture(scope="module")
def host(keras_model):
    _, root = keras_model
    with LocalEndpointHost(model_roots=[root]) as h:
        # the runtime comes from the TensorFlow inference image URI, as on SageMaker
        h.deploy_local("keras", root, image=TF_IMAGE)
        h.deploy_local(
            "keras-named", root, "tensorflow", environment={"ENDPOINT_SERDE_OUTPUTS": "scores"}
        )
        yield h


def test_csv_predictions_equal_in_process_predictions(host, keras_model):
    model, _ = keras_model
    x = np.random.default_rng(1).normal(size=(64, 3)).astype(np.float32)
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in x).encode()
    answer = (
        host.runtime_client()
        .invoke_endpoint(EndpointName="keras", Body=body, ContentType="text/csv")["Body"]
        .read()
    )
    served = np.array([line.split(b",") for line in answer.split(b"\n")], dtype=np.float64)
    np.testing.assert_allclose(served, model.predict(x, verbose=0), rtol=1e-6)
    assert host.control.store.get("models", "keras")["PrimaryContainer"]["Image"] == TF_IMAGE


def test_tf_serving_rest_with_named_instances(host, keras_model):
    model, _ = keras_model
    x = [[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]]
    http = urllib3.PoolManager(retries=False)
    response = http.request(
        "POST",
        f"{host.url}/v1/models/keras-named:predict",
        body=orjson.dumps({"instances": [{"features": row} for row in x]}),
    )
    assert response.status == 200
    predictions = orjson.loads(response.data)["predictions"]
    np.testing.assert_allclose(predictions, model.predict(np.array(x), verbose=0), rtol=1e-6)
    wrong = http.request(
        "POST", f"{host.url}/v1/models/keras-named:predict", body=b'{"instances": [[1, 2]]}'
    )
    assert wrong.status == 400 and "error" in orjson.loads(wrong.data)
