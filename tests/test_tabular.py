"""CSV files read strictly (pandas, RFC 4180) and the preprocessing stored with a model as JSON."""

import csv
import io
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relunet.datasets import load_csv
from relunet.tabular import (
    MAX_ABS_VALUE,
    Preprocessing,
    column_values,
    read_columns,
    read_table,
)

pytest.importorskip("pandas")


def _write(tmp_path, text, name="data.csv"):
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


# ------------------------------------------------------------------------- quoting and line breaks
def test_a_quoted_newline_stays_inside_its_field(tmp_path):
    # the old reader split the text on line breaks first and read "1\n5" as 15
    p = _write(tmp_path, 'a,y\n"1\n5",2\n3,4\n')
    t = read_table(p)
    assert t.frame["a"].tolist() == ["1\n5", "3"]
    assert t.lines.tolist() == [2, 4]  # the second row starts on line 4: the quoted newline counts
    with pytest.raises(ValueError, match=r"line 2, column 'a': '1\\n5' is not a number"):
        load_csv(p, target="y")


def test_a_quoted_header_name_keeps_its_newline(tmp_path):
    t = read_table(_write(tmp_path, '"a\nb",y\n1,2\n'))
    assert t.columns == ["a\nb", "y"]


@pytest.mark.parametrize("ch", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_unicode_line_separators_are_not_record_ends(tmp_path, ch):
    # str.splitlines() ends a line at each of these; RFC 4180 ends a record at CRLF (or LF, CR) only
    t = read_table(_write(tmp_path, f'a,b\n1{ch}2,"x{ch}y"\n'))
    assert len(t.frame) == 1 and t.frame.iloc[0].tolist() == [f"1{ch}2", f"x{ch}y"]
    with pytest.raises(ValueError, match="is not a number"):
        load_csv(_write(tmp_path, f"a\n1{ch}2\n", "one.csv"))


def test_a_quoted_carriage_return_stays_in_its_field(tmp_path):
    t = read_table(_write(tmp_path, 'id,a\n"p\rq",1\n"r\r\ns",2\n'))
    assert t.frame["id"].tolist() == ["p\rq", "r\r\ns"] and t.lines.tolist() == [2, 4]


def test_rows_of_empty_fields_are_missing_values_not_dropped(tmp_path):
    p = _write(tmp_path, "a,b\n1,2\n,\n3,4\n")
    t = read_table(p)
    assert len(t.frame) == 3 and t.frame.iloc[1].tolist() == ["", ""]
    cols = read_columns(p, target=None)
    assert np.isnan(cols.values["a"][1]) and cols.missing().tolist() == [False, True, False]
    with pytest.raises(ValueError, match="line 3, column 'a': an empty field is not a number"):
        load_csv(p)


@pytest.mark.parametrize("text", ["1_000", "٢", "３", "0x10", "1e", "infinity", "1,5"])
def test_numbers_are_ascii_decimals_only(tmp_path, text):
    # float() accepts 1_000, Arabic-Indic and full-width digits and "infinity"
    p = _write(tmp_path, f'a,y\n"{text}",1\n2,3\n')
    with pytest.raises(ValueError, match="line 2, column 'a'"):
        load_csv(p, target="y")


def test_a_field_larger_than_the_csv_modules_limit_is_read(tmp_path):
    big = "x" * 200_000
    limit = csv.field_size_limit()
    t = read_table(_write(tmp_path, f'id,a\n"{big}",1\n'))
    assert t.frame["id"].tolist() == [big]
    assert csv.field_size_limit() == limit  # the csv module's setting is put back


def test_an_unterminated_quote_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not a valid CSV file"):
        read_table(_write(tmp_path, 'a,b\n1,"2\n'))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_or_a_device_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        read_table(fifo)  # opening a FIFO with no writer would block forever
    if os.path.exists("/dev/zero"):
        with pytest.raises(ValueError, match="not a regular file"):
            read_table("/dev/zero")


@pytest.mark.parametrize("value, column", [("1e200", "a"), ("-1e200", "a"), ("1e300", "y"), ("-1.8e308", "a")])
def test_huge_numbers_are_refused_with_their_line_and_column(tmp_path, value, column):
    # their squares overflow a variance; the error names the file's place, not a standardised matrix
    text = "a,y\n1,2\n" + (f"{value},3\n" if column == "a" else f"4,{value}\n")
    with pytest.raises(ValueError, match=f"line 3, column '{column}': {value} is larger in magnitude than 1e\\+150"):
        load_csv(_write(tmp_path, text), target="y")
    assert MAX_ABS_VALUE ** 2 < np.finfo(np.float64).max


def test_mixed_text_and_numbers_in_one_column_are_refused(tmp_path):
    t = read_table(_write(tmp_path, "a\n1\ntwo\n"))
    with pytest.raises(ValueError, match="line 3, column 'a': 'two' is not a number"):
        column_values(t, "a")


def test_string_class_labels_and_text_columns(tmp_path):
    p = _write(tmp_path, "colour,x,label\nred,1,cat\nblue,,dog\nred,3,cat\n")
    cols = read_columns(p, target="label", task="classification")
    assert cols.y.tolist() == ["cat", "dog", "cat"]
    assert cols.values["colour"].tolist() == ["red", "blue", "red"]
    assert cols.lines.tolist() == [2, 3, 4]


# ------------------------------------------------------------------------- the fuzz: pandas vs the csv module
_cells = st.text(alphabet=st.sampled_from(list('ab1 ,."\n\r\x0b\x85\u2028é')), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_cells, min_size=3, max_size=3), min_size=1, max_size=6),
       terminator=st.sampled_from(["\n", "\r\n"]), quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
def test_read_table_agrees_with_a_strict_rfc4180_reading(tmp_path, rows, terminator, quoting):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=terminator, quoting=quoting)
    writer.writerow(["c0", "c1", "c2"])
    writer.writerows(rows)
    path = tmp_path / "fuzz.csv"
    path.write_bytes(buf.getvalue().encode("utf-8"))
    with open(path, newline="", encoding="utf-8") as fh:
        reference = [r for r in csv.reader(fh, strict=True) if r]
    try:
        t = read_table(path)
    except ValueError as exc:
        # the csv module writes a bare \r unquoted, and a bare \r ends a record: refused, never misread
        assert "\r" in buf.getvalue().replace("\r\n", ""), exc
        assert "fields but the header has 3" in str(exc) or "the record is ambiguous" in str(exc)
        return
    assert [t.columns] + t.frame.values.tolist() == reference


# ------------------------------------------------------------------------- preprocessing as JSON
def _values():
    return {
        "x": np.array([1.0, np.nan, 3.0, 10.0]),
        "colour": np.array(["red", None, "blue", "red"], dtype=object),
    }


@pytest.mark.parametrize("impute", ["mean", "median", "most_frequent", None])
def test_preprocessing_rebuilt_from_json_transforms_bit_for_bit(impute):
    values = _values()
    if impute is None:
        values = {"x": np.array([1.0, 2.0, 3.0, 10.0]), "colour": np.array(["red", "green", "blue", "red"], dtype=object)}
    pre = Preprocessing.fit(values, ["x", "colour"], impute)
    record = json.loads(json.dumps(pre.to_record(), allow_nan=False))
    again = Preprocessing.from_record(record, len(pre.feature_names))
    new = {"x": np.array([2.0, 5.0]), "colour": np.array(["blue", "violet"], dtype=object)}
    np.testing.assert_array_equal(again.transform(new), pre.transform(new))
    X = pre.transform(values)
    assert X.shape == (4, 1 + len(record["categories"]["colour"])) and np.isfinite(X).all()
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)  # the scaler standardised the training rows


def test_imputed_statistics_are_scikit_learns():
    pre = Preprocessing.fit(_values(), ["x", "colour"], "median")
    assert pre.fill == {"x": 3.0, "colour": "red"}  # median of 1, 3, 10; most frequent colour
    assert pre.categories == {"colour": ["blue", "red"]}
    assert pre.feature_names == ["x", "colour=blue", "colour=red"]
    # an unseen category is all zeros before scaling: the scaler's −mean/scale in both columns
    X = pre.transform({"x": np.array([3.0]), "colour": np.array(["violet"], dtype=object)})
    np.testing.assert_allclose(X[0, 1:], -pre.scaler.mean_[1:] / pre.scaler.scale_[1:])


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.update(columns="x"), "columns must be distinct column names"),
        (lambda r: r.update(columns=["x", "x"]), "columns must be distinct column names"),
        (lambda r: r.update(categories={"colour": [1, 2]}), "categories must map columns"),
        (lambda r: r.update(categories={"nope": ["a"]}), "categories must map columns"),
        (lambda r: r["categories"].update(colour=["blue", "red", "green"]), "make 4 inputs but the network has 3"),
        (lambda r: r.update(impute={"strategy": "eval", "statistics": {}}), "impute must name a strategy"),
        (lambda r: r["impute"]["statistics"].update(x="3"), "statistic for column 'x' is not a valid value"),
    ],
)
def test_a_hostile_preprocessing_record_is_refused(edit, message):
    record = json.loads(json.dumps(Preprocessing.fit(_values(), ["x", "colour"], "mean").to_record()))
    edit(record)
    with pytest.raises(ValueError, match=message):
        Preprocessing.from_record(record, 3)
