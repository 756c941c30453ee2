"""The local host's small parts on their own: fault decisions, CSV parsing, content-type
negotiation, runtime choice and output selection."""

from __future__ import annotations

import numpy as np
import pytest

from endpoints.local import FaultSpec
from endpoints.local.codecs import decode_csv, encode_csv, encode_json, resolve_accept
from endpoints.local.errors import ApiError, BadInput, ModelLoadError
from endpoints.local.faults import FaultInjector
from endpoints.local.runtimes import ModelRuntime, SelectedOutputs, choose_runtime_kind


def test_fault_spec_validates_its_fields():
    with pytest.raises(ValueError, match=r"throttle_rate must be a probability in \[0, 1\]"):
        FaultSpec(throttle_rate=1.5)
    with pytest.raises(ValueError, match="error_status must be 500 or 503, got 502"):
        FaultSpec(error_status=502)
    with pytest.raises(ValueError, match="throttle_kind must be one of"):
        FaultSpec(throttle_kind="Slow")
    with pytest.raises(ValueError, match=r"unknown FaultSpec fields \['nope'\]"):
        FaultSpec.from_dict({"nope": 1})
    assert FaultSpec.from_dict({"drop_rate": 0.5}).drop_rate == 0.5


def test_injector_is_deterministic_and_bounded():
    spec = FaultSpec(throttle_rate=0.3, error_rate=0.3, seed=3, max_faults=5)
    runs = []
    for _ in range(2):
        injector = FaultInjector(spec)
        runs.append([injector.next_fault().kind for _ in range(40)])
    assert runs[0] == runs[1]
    kinds = runs[0]
    faults = [i for i, k in enumerate(kinds) if k is not None]
    assert len(faults) == 5 and faults[-1] < 39  # then it behaves normally
    assert set(kinds) == {None, "throttle", "error"}


def test_decode_csv_shapes_and_errors():
    np.testing.assert_array_equal(decode_csv(b"1,2\r\n3,4\r\n"), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(decode_csv(b"5\n"), [[5.0]])
    big = ("\n".join("1.5,2,3" for _ in range(5000)) + "\n").encode()
    assert decode_csv(big).shape == (5000, 3) and decode_csv(big)[4999, 0] == 1.5
    with pytest.raises(BadInput, match="empty body"):
        decode_csv(b"  \n")
    with pytest.raises(BadInput, match="row 2 has 3 values, expected 2"):
        decode_csv(b"1,2\n1,2,3")
    with pytest.raises(BadInput, match="rows of 3 numbers"):
        decode_csv(big + b"1,2\n")
    with pytest.raises(BadInput, match="empty value"):
        decode_csv(big + b"1,,2\n")


def test_encoders_keep_ints_and_shortest_floats():
    outputs = {"label": np.array([1, 0]), "p": np.array([[0.25, 0.75], [0.1, 0.9]])}
    assert encode_csv(outputs, 2) == b"1,0.25,0.75\n0,0.1,0.9"
    assert encode_json({"score": np.array([0.5, 2.0])}, 2, False) == b'{"predictions":[0.5,2.0]}'
    assert encode_json(outputs, 2, True) == (
        b'{"outputs":{"label":[1,0],"p":[[0.25,0.75],[0.1,0.9]]}}'
    )


def test_accept_negotiation():
    assert resolve_accept(None, "text/csv") == "text/csv"
    assert resolve_accept("*/*", "application/json") == "application/json"
    assert resolve_accept("application/jsonl", "text/csv") == "application/jsonlines"
    assert resolve_accept("image/png, text/csv;q=0.9", "application/json") == "text/csv"
    with pytest.raises(ApiError, match="Accept 'image/png' is not supported"):
        resolve_accept("image/png", "text/csv")


def test_runtime_choice(tmp_path):
    tf_image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"
    assert choose_runtime_kind(tmp_path, {"ENDPOINT_SERDE_RUNTIME": "onnx"}, tf_image) == "onnx"
    assert choose_runtime_kind(tmp_path, {}, tf_image) == "tensorflow"
    (tmp_path / "m.onnx").write_bytes(b"")
    assert choose_runtime_kind(tmp_path, {}, "local") == "onnx"
    other = tmp_path / "saved"
    (other / "1").mkdir(parents=True)
    (other / "1" / "saved_model.pb").write_bytes(b"")
    assert choose_runtime_kind(other, {}, None) == "tensorflow"
    py = tmp_path / "py"
    py.mkdir()
    (py / "model.py").write_text("")
    assert choose_runtime_kind(py, {}, None) == "python"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="Cannot tell which runtime serves"):
        choose_runtime_kind(empty, {}, None)
    with pytest.raises(ModelLoadError, match="'torch' is not a runtime"):
        choose_runtime_kind(empty, {"ENDPOINT_SERDE_RUNTIME": "torch"}, None)


class TwoOutputs(ModelRuntime):
    output_names = ("output_label", "output_probability")

    def predict(self, inputs):
        return {"output_label": np.array([1]), "output_probability": np.array([[0.2, 0.8]])}


def test_selected_outputs_by_name_prefix_position_and_explicit_mapping():
    assert list(SelectedOutputs(TwoOutputs(), "label").predict(None)) == ["label"]
    by_position = SelectedOutputs(TwoOutputs(), "label,probabilities")
    assert by_position.output_names == ("label", "probabilities")
    assert by_position.predict(None)["probabilities"].tolist() == [[0.2, 0.8]]
    explicit = SelectedOutputs(TwoOutputs(), "p=output_probability")
    assert list(explicit.predict(None)) == ["p"]
    with pytest.raises(ModelLoadError, match=r"no model output for \['score'\]"):
        SelectedOutputs(TwoOutputs(), "score")
