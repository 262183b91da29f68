"""Properties of ShallowReLUNet: norms, symmetries, pruning, I/O."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlreg import ShallowReLUNet


def _random_net(seed: int, d: int = 3, t: int = 4, k: int = 7, skip: bool = True) -> ShallowReLUNet:
    net = ShallowReLUNet(d, t, k, skip=skip, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 2.0)
    return net


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("skip", [True, False])
def test_balance_keeps_function_and_makes_wd_equal_vv(seed: int, skip: bool) -> None:
    net = _random_net(seed, skip=skip)
    x = torch.randn(50, 3, dtype=torch.float64)
    before = net(x).detach()
    assert float(net.vv_norm()) <= float(net.weight_decay()) + 1e-12
    vv = float(net.vv_norm())
    net.balance()
    torch.testing.assert_close(net(x).detach(), before, rtol=1e-12, atol=1e-12)
    assert float(net.weight_decay()) == pytest.approx(vv, rel=1e-12)
    assert float(net.vv_norm()) == pytest.approx(vv, rel=1e-12)
    torch.testing.assert_close(net.w.norm(dim=1), net.v.norm(dim=1))


def test_vv_norm_per_task_sums_to_at_least_total() -> None:
    net = _random_net(1)
    per_task = sum(float(net.vv_norm(task=t)) for t in range(net.out_dim))
    # ||v||_2 <= ||v||_1 neuron by neuron.
    assert float(net.vv_norm()) <= per_task + 1e-12
    with pytest.raises(ValueError, match="task"):
        net.vv_norm(task=4)


def test_rescaling_symmetry_leaves_function_unchanged() -> None:
    net = _random_net(2)
    x = torch.randn(20, 3, dtype=torch.float64)
    before = net(x).detach()
    with torch.no_grad():
        a = torch.rand(net.width, dtype=torch.float64) + 0.5
        net.w.mul_(a[:, None])
        net.b.mul_(a)
        net.v.div_(a[:, None])
    torch.testing.assert_close(net(x).detach(), before)


def test_prune_drops_dead_neurons_and_keeps_function() -> None:
    net = _random_net(3)
    with torch.no_grad():
        net.v[0].zero_()  # no output
        net.w[1].zero_()  # constant neuron: folded into c
    x = torch.randn(30, 3, dtype=torch.float64)
    before = net(x).detach()
    net.prune(1e-9)
    assert net.width == 5
    torch.testing.assert_close(net(x).detach(), before)


def test_save_load_roundtrip(tmp_path) -> None:
    net = _random_net(4, skip=False)
    path = tmp_path / "net.safetensors"
    net.save(path)
    loaded = ShallowReLUNet.load(path)
    x = torch.randn(10, 3, dtype=torch.float64)
    torch.testing.assert_close(loaded(x), net(x))
    assert loaded.skip is False and loaded.A is None


def test_load_rejects_foreign_file(tmp_path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="not an mtlreg network"):
        ShallowReLUNet.load(path)


def test_predict_matches_forward_and_validates() -> None:
    net = _random_net(5)
    x = np.random.default_rng(0).standard_normal((6, 3))
    np.testing.assert_allclose(net.predict(x), net(torch.as_tensor(x)).detach().numpy())
    with pytest.raises(ValueError, match="3 column"):
        net.predict(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="finite"):
        net.predict(np.full((2, 3), np.nan))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_dim": 0, "out_dim": 1, "width": 3}, "in_dim"),
        ({"in_dim": 1, "out_dim": 1, "width": 0}, "width"),
        ({"in_dim": 1, "out_dim": 0, "width": 3}, "out_dim"),
    ],
)
def test_bad_shapes_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ShallowReLUNet(**kwargs)


# ------------------------------------------------------------ checked file I/O
def _saved(tmp_path, skip: bool = True):
    net = _random_net(4, skip=skip)
    path = tmp_path / "net.safetensors"
    net.save(path)
    return net, path


def _header_length(data: bytes) -> int:
    return 8 + int.from_bytes(data[:8], "little")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda raw: raw[: len(raw) // 2], r"truncated|cannot be read"),
        (lambda raw: raw[:5], "too short"),
        (lambda raw: bytes(np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8)), "net"),
        (lambda raw: b"PK\x03\x04" + raw, r"\.pt"),
        (lambda raw: b"", "too short"),
    ],
    ids=["half", "five-bytes", "random", "pt-zip", "empty"],
)
def test_load_refuses_unreadable_files_in_one_line(tmp_path, make, match: str) -> None:
    _, path = _saved(tmp_path)
    path.write_bytes(make(path.read_bytes()))
    with pytest.raises(ValueError, match=match) as info:
        ShallowReLUNet.load(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_load_refuses_a_torch_pickle(tmp_path) -> None:
    net = _random_net(3)
    path = tmp_path / "net.pt"
    torch.save(net.state_dict(), path)
    with pytest.raises(ValueError, match=r"\.pt"):
        ShallowReLUNet.load(path)


def test_load_detects_altered_bytes(tmp_path) -> None:
    _, path = _saved(tmp_path)
    raw = bytearray(path.read_bytes())
    start = _header_length(bytes(raw))
    rng = np.random.default_rng(1)
    for _ in range(5):
        altered = bytearray(raw)
        k = int(rng.integers(start, len(raw)))
        altered[k] ^= 1 << int(rng.integers(0, 8))  # one flipped bit in the tensor data
        path.write_bytes(bytes(altered))
        with pytest.raises(ValueError, match=r"checksum|NaN"):
            ShallowReLUNet.load(path)


def test_load_refuses_nan_weights_even_without_checksum(tmp_path) -> None:
    from safetensors.torch import save_file

    net = _random_net(3)
    state = {k: t.detach().clone() for k, t in net.state_dict().items()}
    state["v"][0, 0] = float("nan")
    meta = {"in_dim": "3", "out_dim": "4", "width": "7", "skip": "True"}
    meta["format"] = "mtlreg.ShallowReLUNet/1"
    path = tmp_path / "nan.safetensors"
    save_file(state, str(path), metadata=meta)
    with pytest.raises(ValueError, match="'v' holds NaN"):
        ShallowReLUNet.load(path)
    state["v"][0, 0] = 0.0
    state["w"] = state["w"][:, :2].contiguous()  # shape disagrees with the metadata
    save_file(state, str(path), metadata=meta)
    with pytest.raises(ValueError, match="shape"):
        ShallowReLUNet.load(path)
    state["w"] = torch.zeros(7, 3, dtype=torch.int64)
    save_file(state, str(path), metadata=meta)
    with pytest.raises(ValueError, match="float32 or float64"):
        ShallowReLUNet.load(path)


def test_save_into_a_missing_folder_names_the_folder(tmp_path) -> None:
    net = _random_net(3)
    missing = tmp_path / "no" / "such"
    with pytest.raises(ValueError, match="does not exist") as info:
        net.save(missing / "net.safetensors")
    assert str(missing) in str(info.value)
    assert ".tmp" not in str(info.value)
    with pytest.raises(ValueError, match="folder"):
        net.save(tmp_path)


def test_saved_file_mode_follows_the_umask(tmp_path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        _, path = _saved(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: no temporary file left


def test_load_and_construct_refuse_bad_dtype_and_device(tmp_path) -> None:
    _, path = _saved(tmp_path)
    with pytest.raises(ValueError, match="`device`"):
        ShallowReLUNet.load(path, device="tpu:7")
    with pytest.raises(ValueError, match="`device`"):
        ShallowReLUNet.load(path, device="cuda:99")
    with pytest.raises(TypeError, match="`dtype`"):
        ShallowReLUNet(1, 1, 3, dtype=torch.int64)
    with pytest.raises(TypeError, match="`dtype`"):
        ShallowReLUNet(1, 1, 3, dtype="float64")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`seed`"):
        ShallowReLUNet(1, 1, 3, seed=2**70)
    with pytest.raises(ValueError, match="`seed`"):
        ShallowReLUNet(1, 1, 3, seed=-1)


def test_bytes_round_trip_is_checked_and_deterministic() -> None:
    """to_bytes/from_bytes: what save/load and the sweep store use; equal nets, equal bytes."""
    net = ShallowReLUNet(2, 3, 4, skip=True, seed=0)
    data = net.to_bytes()
    assert data == net.copy().to_bytes()
    back = ShallowReLUNet.from_bytes(data)
    for key, value in net.state_dict().items():
        assert torch.equal(value, back.state_dict()[key])
    altered = bytearray(data)
    altered[-1] ^= 0xFF
    with pytest.raises(ValueError, match="checksum"):
        ShallowReLUNet.from_bytes(bytes(altered), source="test bytes")


def test_from_weights_builds_the_given_network_and_draws_no_random_numbers():
    rng = np.random.default_rng(0)
    w, b, v = rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal((5, 2))
    A, c = rng.standard_normal((2, 3)), rng.standard_normal(2)
    x = rng.standard_normal((7, 3))
    state = torch.random.get_rng_state()
    net = ShallowReLUNet.from_weights(w, b, v, A, c)
    plain = ShallowReLUNet.from_weights(torch.as_tensor(w), b, v)
    zeros = ShallowReLUNet(3, 2, 5, init="zeros")
    assert torch.equal(torch.random.get_rng_state(), state)
    expected = np.maximum(x @ w.T + b, 0.0) @ v
    np.testing.assert_allclose(net.predict(x), expected + x @ A.T + c, rtol=1e-12)
    np.testing.assert_allclose(plain.predict(x), expected, rtol=1e-12)
    assert plain.A is None and net.skip and not plain.skip
    assert all(float(p.abs().max()) == 0.0 for p in zeros.parameters())
    assert ShallowReLUNet.from_weights(w, b, v, dtype=torch.float32).w.dtype == torch.float32


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.ones(3), np.ones(3), np.ones((3, 1))), {}, "`w` should be 2-D"),
        ((np.ones((3, 1)), np.ones(2), np.ones((3, 1))), {}, "`b` and `v` should have 3 rows"),
        ((np.ones((3, 1)), np.ones(3), np.ones((3, 1))), {"A": np.ones((1, 1))}, "together"),
        ((np.full((3, 1), np.nan), np.ones(3), np.ones((3, 1))), {}, "`w` should be finite"),
        (
            (np.ones((3, 1)), np.ones(3), np.ones((3, 1))),
            {"A": np.ones((2, 1)), "c": np.ones(1)},
            "`A` and `c` should have shapes",
        ),
    ],
)
def test_from_weights_rejects_inconsistent_parameters(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShallowReLUNet.from_weights(*args, **kwargs)


def test_init_is_checked():
    with pytest.raises(ValueError, match="init"):
        ShallowReLUNet(1, 1, 2, init="normal")
