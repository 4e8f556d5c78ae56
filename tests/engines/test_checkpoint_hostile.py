"""Hostile checkpoints: code in a pickle is named as such (never "truncated"), weights with
NaN or infinity are refused."""
import os
import pickle
import zipfile
from types import SimpleNamespace

import pytest
import torch

from annotator.engines import checkpoint as ck
from annotator.errors import CheckpointError


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _zip_with(path, payload: bytes, tmp_path):
    torch.save({"w": torch.zeros(2)}, tmp_path / "good.pt")
    with zipfile.ZipFile(tmp_path / "good.pt") as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info, payload if info.filename.endswith("data.pkl") else data)
    return path


@pytest.mark.parametrize("kind", ["raw", "zip", "exec"])
def test_code_in_a_pickle_is_refused_by_name(tmp_path, kind):
    if kind == "raw":
        f = tmp_path / "evil.pt"
        f.write_bytes(pickle.dumps(_RunsCode(), protocol=2))
    elif kind == "zip":
        f = _zip_with(tmp_path / "evil.pt", pickle.dumps(_RunsCode(), protocol=2), tmp_path)
    else:
        f = tmp_path / "evil.pth"
        f.write_bytes(b"cbuiltins\nexec\n(Vprint(1)\ntR.")
    with pytest.raises(ck.PickledModuleError) as e:
        ck.load_state_dict_file(f)
    msg = str(e.value)
    assert "tries to run code when loaded" in msg and "refused" in msg and "truncated" not in msg
    assert "\n" not in msg


def test_unreadable_pickle_protocol_is_not_called_truncated(tmp_path):
    f = tmp_path / "p4.pth"
    f.write_bytes(pickle.dumps({"a": _RunsCode()}, protocol=4))
    with pytest.raises(ck.PickledModuleError, match="safe loader does not accept.*never unpickled"):
        ck.load_state_dict_file(f)


def test_long_messages_are_cut_at_a_word():
    msg = ck._short(ValueError("word " * 60))
    assert msg.endswith(" ...") and "wor ..." not in msg


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_with_nan_or_inf_are_refused(tmp_path, bad):
    sd = {"a.weight": torch.ones(3), "b.weight": torch.tensor([1.0, bad]), "n": torch.tensor([3])}
    torch.save(sd, tmp_path / "w.pth")
    card = SimpleNamespace(name="x", checkpoint={"container": "state_dict"}, schema="x")
    with pytest.raises(CheckpointError, match=r"1 weight tensor\(s\) hold NaN or infinite values \(b.weight\)"):
        ck.load_checkpoint(card, tmp_path / "w.pth")
    sd["b.weight"] = torch.zeros(2)
    torch.save(sd, tmp_path / "w.pth")
    assert set(ck.load_checkpoint(card, tmp_path / "w.pth")) == {"a.weight", "b.weight", "n"}
