"""The local host's inference path, the parts that made it slow.

JSON and JSON Lines answers are cut from one orjson pass per output; they must be byte for
byte what serialising the outputs' Python values (``tolist()``) gives, which is how they
were written before and what every client has read. The CSV reader large bodies go through
is loaded before the first request needs it.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from endpoints.local.codecs import encode_json, encode_jsonlines


def python_rows(outputs: dict[str, np.ndarray], rows: int) -> list:
    """Each row as a Python value, the way the host built its answers value by value."""
    if len(outputs) == 1:
        return next(iter(outputs.values())).tolist()
    lists = {name: array.tolist() for name, array in outputs.items()}
    return [{name: values[i] for name, values in lists.items()} for i in range(rows)]


def expected_json(outputs: dict[str, np.ndarray], rows: int) -> bytes:
    return orjson.dumps({"predictions": python_rows(outputs, rows)})


def expected_jsonlines(outputs: dict[str, np.ndarray], rows: int) -> bytes:
    return b"\n".join(map(orjson.dumps, python_rows(outputs, rows)))


EDGE_DOUBLES = [0.0, -0.0, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, 0.1, -2.5, 1e22]


def test_the_demo_answer_is_labels_and_float32_probabilities_widened():
    outputs = {
        "label": np.array([0, 2], dtype=np.int64),
        "probabilities": np.array([[0.1, 0.2, 0.7], [0.25, 0.25, 0.5]], dtype=np.float32),
    }
    assert encode_json(outputs, 2, False) == (
        b'{"predictions":[{"label":0,"probabilities":[0.10000000149011612,'
        b"0.20000000298023224,0.699999988079071]},"
        b'{"label":2,"probabilities":[0.25,0.25,0.5]}]}'
    )
    assert encode_jsonlines(outputs, 2) == (
        b'{"label":0,"probabilities":[0.10000000149011612,0.20000000298023224,'
        b'0.699999988079071]}\n{"label":2,"probabilities":[0.25,0.25,0.5]}'
    )


def test_nan_and_infinities_are_null_as_before():
    outputs = {"a": np.array([np.nan, np.inf, -np.inf]), "b": np.array([1, 2, 3])}
    assert encode_json(outputs, 3, False) == (
        b'{"predictions":[{"a":null,"b":1},{"a":null,"b":2},{"a":null,"b":3}]}'
    )
    assert encode_jsonlines({"a": outputs["a"]}, 3) == b"null\nnull\nnull"


@pytest.mark.parametrize(
    "outputs, rows",
    [
        ({"a": np.zeros(0), "b": np.zeros((0, 3))}, 0),  # no rows
        ({"p": np.zeros((2, 0)), "q": np.array([True, False])}, 2),  # zero-width rows
        ({"t": np.arange(8).reshape(2, 2, 2), "u": np.array([1, 2])}, 2),  # 3-D: by value
        ({"s": np.array(["x", 'say "hi"']), "n": np.array([1.5, 2.0])}, 2),  # strings
        ({'quo"te': np.array([1]), "ünï": np.array([2.0])}, 1),  # names to escape
        ({"be": np.array([1, 2], dtype=">i4"), "f2": np.array([0.5, 1], dtype=np.float16)}, 2),
        ({"only": np.array([3, 4], dtype=np.uint64)}, 2),
    ],
)
def test_unusual_outputs_answer_as_before(outputs, rows):
    assert encode_json(outputs, rows, False) == expected_json(outputs, rows)
    assert encode_jsonlines(outputs, rows) == expected_jsonlines(outputs, rows)


doubles = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(EDGE_DOUBLES))


@st.composite
def numeric_outputs(draw) -> tuple[dict[str, np.ndarray], int]:
    rows = draw(st.integers(1, 40))
    outputs = {}
    for index in range(draw(st.integers(1, 4))):
        dtype = draw(st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.bool_]))
        width = draw(st.sampled_from([None, 1, 3]))
        shape = (rows,) if width is None else (rows, width)
        elements = doubles if dtype in (np.float64, np.float32) else None
        if dtype is np.float32:
            elements = st.floats(width=32, allow_nan=True, allow_infinity=True)
        outputs[f"out{index}"] = draw(hnp.arrays(dtype, shape, elements=elements))
    return outputs, rows


@settings(max_examples=300, deadline=None)
@given(numeric_outputs())
def test_any_numeric_outputs_answer_byte_for_byte_as_python_values_do(case):
    outputs, rows = case
    assert encode_json(outputs, rows, False) == (
        # a single numeric output is written straight from the array, as it always was
        orjson.dumps(
            {"predictions": np.ascontiguousarray(next(iter(outputs.values())))},
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
        if len(outputs) == 1
        else expected_json(outputs, rows)
    )
    assert encode_jsonlines(outputs, rows) == expected_jsonlines(outputs, rows)
    # and it reads back as the same rows
    assert len(orjson.loads(encode_json(outputs, rows, False))["predictions"]) == rows


def test_warm_up_loads_the_csv_reader_that_large_bodies_use():
    """In a fresh interpreter: importing the host leaves Arrow's CSV reader unloaded (the
    host starts fast), and the warm-up it runs in the background loads it."""
    code = (
        "import sys\n"
        "from endpoints.local import codecs\n"
        "before = 'pyarrow.csv' in sys.modules\n"
        "codecs.warm_up()\n"
        "print(before, 'pyarrow.csv' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_inference_workers_must_be_one_or_more_threads(value, capsys):
    from endpoints.local.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", "0", "--inference-workers", value])
    assert exit_info.value.code == 2
    assert (
        f"argument --inference-workers: expected a whole number of threads, 1 or more; "
        f"got {value!r}" in capsys.readouterr().err
    )
