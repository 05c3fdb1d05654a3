"""Device resolution from net.gpu, and checkpoints that load on any device."""

from __future__ import annotations

import pytest
import torch

from slm_lab.lib import device as device_mod
from slm_lab.lib.device import resolve_device
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import MLPNetSpec


def test_auto_and_false_are_the_cpu_on_a_machine_without_cuda(monkeypatch):
    monkeypatch.setattr(device_mod, "cuda_count", lambda: 0)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(False) == torch.device("cpu")
    assert resolve_device("cpu", session=3) == torch.device("cpu")


@pytest.mark.parametrize("gpu", [True, "cuda", "cuda:0", "cuda:1"])
def test_cuda_asked_for_on_a_cpu_machine_is_a_one_line_spec_error(monkeypatch, gpu):
    monkeypatch.setattr(device_mod, "cuda_count", lambda: 0)
    with pytest.raises(SpecError, match="asks for CUDA, but this machine has none") as e:
        resolve_device(gpu)
    assert "\n" not in str(e.value)


def test_sessions_spread_over_the_gpus(monkeypatch):
    monkeypatch.setattr(device_mod, "cuda_count", lambda: 3)
    assert [resolve_device("auto", session=j).index for j in range(5)] == [0, 1, 2, 0, 1]
    assert resolve_device(True, session=4) == torch.device("cuda", 1)
    assert resolve_device("cuda:2", session=0) == torch.device("cuda", 2)
    with pytest.raises(SpecError, match="'cuda:3' does not exist: this machine has 3 CUDA devices"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "tpu", 1, 0.5])
def test_the_schema_refuses_what_is_not_a_device(bad):
    with pytest.raises(ValueError):
        MLPNetSpec(gpu=bad)


@pytest.mark.parametrize("good", ["auto", True, False, "cpu", "cuda", "cuda:1", "mps"])
def test_the_schema_takes_each_device_form(good):
    assert MLPNetSpec(gpu=good).gpu == good


def test_a_short_run_with_an_explicit_cpu_device_trains_and_saves_cpu_checkpoints(tmp_path):
    from slm_lab.control.session import Session, load_checkpoint
    from slm_lab.spec.loader import load_spec

    spec = load_spec("benchmark/ppo/ppo_cartpole.json", "ppo_cartpole", overrides=[
        "agent.0.net.gpu=false", "env.0.max_frame=1024", "meta.max_session=1", "meta.log_frequency=512",
        "meta.eval_frequency=1024", "meta.eval_episodes=1"])
    Session(spec, tmp_path, trial=0, session=0).run()
    state = load_checkpoint(tmp_path / "model" / "latest.pt")
    tensors = [t for net in state["nets"].values() for t in net.values()]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert state["counters"]["opt_step"] > 0


def test_agent_to_moves_every_net_and_batches_follow(monkeypatch):
    from slm_lab.agent import make_agent
    from slm_lab.env.gymnasium import BodySpaces
    from slm_lab.spec.schema import AgentSpec

    spec = AgentSpec.model_validate({"name": "a", "algorithm": {"name": "DQN"}, "memory": {"name": "Replay"}, "net": {"hid_layers": [8]}})
    agent = make_agent(spec, BodySpaces(4, 2, True, 1), 1000, 0).to(torch.device("cpu"))
    assert agent.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for net in agent.nets.values() for p in net.parameters())
    batch = agent.to_device({"x": torch.zeros(3)})
    assert batch["x"].device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cpu_checkpoint_loads_onto_cuda_and_back(tmp_path):
    from slm_lab.agent import make_agent
    from slm_lab.control.session import load_checkpoint, save_checkpoint
    from slm_lab.env.gymnasium import BodySpaces
    from slm_lab.spec.schema import AgentSpec

    spec = AgentSpec.model_validate({"name": "a", "algorithm": {"name": "DQN"}, "memory": {"name": "Replay"}, "net": {"hid_layers": [8]}})
    cpu_agent = make_agent(spec, BodySpaces(4, 2, True, 1), 1000, 0)
    save_checkpoint(cpu_agent, tmp_path / "cpu.pt")
    gpu_agent = make_agent(spec, BodySpaces(4, 2, True, 1), 1000, 1).to(torch.device("cuda"))
    gpu_agent.load_state_dict(load_checkpoint(tmp_path / "cpu.pt"))
    for a, b in zip(cpu_agent.net.parameters(), gpu_agent.net.parameters()):
        assert b.device.type == "cuda" and torch.equal(a, b.cpu())
    save_checkpoint(gpu_agent, tmp_path / "gpu.pt")
    back = load_checkpoint(tmp_path / "gpu.pt")  # map_location: always readable on a CPU machine
    assert all(t.device.type == "cpu" for t in back["nets"]["net"].values())


def test_compile_compiles_the_trained_nets_in_place_and_keeps_their_state_dict_keys():
    from slm_lab.agent import make_agent
    from slm_lab.env.gymnasium import BodySpaces
    from slm_lab.spec.schema import AgentSpec

    spec = AgentSpec.model_validate({"name": "a", "algorithm": {"name": "DQN"}, "memory": {"name": "Replay"}, "net": {"hid_layers": [8]}})
    agent = make_agent(spec, BodySpaces(4, 2, True, 1), 1000, 0)
    keys = {k: list(net.state_dict()) for k, net in agent.nets.items()}
    agent.compile()
    assert agent.net._compiled_call_impl is not None  # the online net is compiled
    assert agent.target_net._compiled_call_impl is None  # the target net only copies weights
    assert {k: list(net.state_dict()) for k, net in agent.nets.items()} == keys


@pytest.mark.slow
def test_a_compiled_run_gives_the_eager_runs_numbers(tmp_path):
    import pandas as pd

    from slm_lab.control.session import Session
    from slm_lab.spec.loader import load_spec

    tables = []
    for flag in ("false", "true"):
        spec = load_spec("benchmark/dqn/dqn_cartpole.json", "dqn_cartpole", overrides=[
            f"meta.compile={flag}", "env.0.max_frame=2000", "meta.max_session=1", "meta.log_frequency=500",
            "meta.eval_frequency=2000", "meta.eval_episodes=1"])
        Session(spec, tmp_path / flag, trial=0, session=0).run()
        tables.append(pd.read_csv(tmp_path / flag / "train.csv")[["frame", "opt_step", "return", "loss", "q_mean"]])
    pd.testing.assert_frame_equal(tables[0], tables[1], rtol=1e-5)
