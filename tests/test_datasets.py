"""Loading bundled samples and local files; errors name the file and the columns."""

import pandas as pd
import pytest

from resources.datasets import SAMPLES, DatasetError, Datasets


def test_every_bundled_sample_loads():
    ds = Datasets()
    arena = ds.load("sample:arena", columns=["prompt", "response_a", "winner_tie"])
    assert len(arena) == 999
    assert len(ds.load("sample:cje_logged")) == 1000
    assert len(ds.load("sample:em_base")) == len(ds.load("sample:em_high_severity")) == 100
    assert set(SAMPLES) == {"arena", "cje_logged", "reasoning", "em_base", "em_high_severity"}


def test_local_files_of_each_type(tmp_path):
    frame = pd.DataFrame({"q": ["a", "b"], "answer": ["x", "y"]})
    frame.to_csv(tmp_path / "f.csv", index=False)
    frame.to_json(tmp_path / "f.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "f.parquet")
    for name in ("f.csv", "f.jsonl", "f.parquet"):
        assert Datasets().load(str(tmp_path / name), limit=1).to_dict("list") == {"q": ["a"], "answer": ["x"]}


def test_errors_name_what_is_wrong(tmp_path):
    ds = Datasets()
    with pytest.raises(DatasetError, match=r"missing\.csv: file not found"):
        ds.load(str(tmp_path / "missing.csv"))
    pd.DataFrame({"q": [1]}).to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(DatasetError, match=r"f\.csv: missing column\(s\) answer, model; it has: q"):
        ds.load(str(tmp_path / "f.csv"), columns=["q", "answer", "model"])
    with pytest.raises(DatasetError, match="unknown sample 'arena2'; bundled samples: arena"):
        ds.load("sample:arena2")
    with pytest.raises(DatasetError, match="unknown file type '.xlsx'"):
        ds.load(str(tmp_path / "f.xlsx"))
    with pytest.raises(DatasetError, match="hf:lmarena-ai/arena-human-preference-100k .*network"):
        ds.load("hf:lmarena-ai/arena-human-preference-100k")
