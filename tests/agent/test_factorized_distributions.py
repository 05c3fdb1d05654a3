"""MultiDiscrete and MultiBinary actions: the factorized categorical / Bernoulli distributions, the
policy-gradient agents built on them, and the algorithms that refuse them."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.distributions import Bernoulli, MultiCategorical, make_distribution
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import AgentSpec

NVEC = (3, 4, 5)
MULTI = BodySpaces(6, 3, False, 4, action_nvec=NVEC)
BITS = BodySpaces(6, 5, False, 4, action_binary=True)


def per_dim(logits: torch.Tensor, nvec=NVEC) -> list[torch.distributions.Categorical]:
    return [torch.distributions.Categorical(logits=part) for part in logits.split(list(nvec), dim=-1)]


@pytest.mark.parametrize("nvec", [NVEC, (4, 4)])  # padded to max(nvec), and the plain reshape
def test_multi_categorical_log_prob_and_entropy_are_the_per_dim_sums(nvec):
    torch.manual_seed(0)
    dist = MultiCategorical(nvec)
    logits = torch.randn(7, 2, sum(nvec))  # a [T, B] batch
    actions = torch.stack([torch.randint(0, n, (7, 2)) for n in nvec], dim=-1)
    log_prob, entropy = dist.log_prob_entropy(logits, actions)
    dims = per_dim(logits, nvec)
    expected_lp = sum(d.log_prob(actions[..., i]) for i, d in enumerate(dims))
    expected_h = sum(d.entropy() for d in dims)
    assert log_prob.shape == entropy.shape == (7, 2)
    torch.testing.assert_close(log_prob, expected_lp)
    torch.testing.assert_close(entropy, expected_h)
    assert dist.log_prob_entropy(logits, actions, entropy=False)[1] is None


def test_multi_categorical_padding_keeps_gradients_finite_and_off_the_pads():
    logits = torch.randn(5, sum(NVEC), requires_grad=True)
    log_prob, entropy = MultiCategorical(NVEC).log_prob_entropy(logits, torch.tensor([[2, 3, 4]] * 5))
    (log_prob.sum() + entropy.sum()).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_multi_categorical_greedy_and_samples_stay_in_each_dims_range():
    dist = MultiCategorical(NVEC)
    logits = torch.full((2, 12), -5.0)
    logits[0, [1, 3 + 3, 7 + 0]] = 5.0  # dim 0 -> 1, dim 1 -> 3, dim 2 -> 0
    logits[1, [2, 3 + 0, 7 + 4]] = 5.0
    assert dist.greedy(logits).tolist() == [[1, 3, 0], [2, 0, 4]]
    torch.manual_seed(0)
    samples = dist.sample(torch.zeros(4000, 3, 12))  # uniform per dim: every choice, never a pad
    assert samples.shape == (4000, 3, 3) and samples.dtype == torch.int64
    for i, n in enumerate(NVEC):
        counts = torch.bincount(samples[..., i].flatten(), minlength=n)
        assert len(counts) == n and (counts.float() / counts.sum() - 1 / n).abs().max() < 0.02


def test_bernoulli_matches_torch_distributions_and_acts_on_the_logit_sign():
    torch.manual_seed(0)
    dist = Bernoulli()
    logits = torch.randn(6, 3, 5)
    bits = torch.randint(0, 2, (6, 3, 5))
    log_prob, entropy = dist.log_prob_entropy(logits, bits)
    reference = torch.distributions.Bernoulli(logits=logits)
    torch.testing.assert_close(log_prob, reference.log_prob(bits.float()).sum(-1))
    torch.testing.assert_close(entropy, reference.entropy().sum(-1))
    assert dist.greedy(torch.tensor([[2.0, -1.0, 0.5]])).tolist() == [[1, 0, 1]]
    samples = dist.sample(torch.full((20000, 2), 1.0))
    assert samples.shape == (20000, 2) and samples.dtype == torch.int64
    assert abs(samples.float().mean().item() - torch.sigmoid(torch.tensor(1.0)).item()) < 0.01


def test_each_space_gets_its_distribution():
    assert isinstance(make_distribution(MULTI, lambda: None), MultiCategorical)
    assert isinstance(make_distribution(BITS, lambda: None), Bernoulli)
    assert MULTI.action_kind == "multi_discrete" and MULTI.policy_dim == 12
    assert BITS.action_kind == "multi_binary" and BITS.policy_dim == 5


def agent_spec(algo: str, shared: bool = False, **extra) -> AgentSpec:
    memory = "OnPolicyReplay" if algo == "REINFORCE" else "OnPolicyBatchReplay"
    net = {"type": "StatefulRecurrentNet", "fc_hid_layers": [8], "cell_type": "GRU"} if algo == "RecurrentPPO" else {"hid_layers": [8]}
    return AgentSpec.model_validate({"name": "a", "algorithm": {"name": algo, **extra}, "memory": {"name": memory},
                                     "net": {**net, "shared": shared}})


@pytest.mark.parametrize("algo,shared", [("REINFORCE", False), ("A2C", True), ("A2C", False), ("PPO", True), ("RecurrentPPO", False)])
@pytest.mark.parametrize("spaces", [MULTI, BITS], ids=["multidiscrete", "multibinary"])
def test_policy_gradient_agents_act_with_one_integer_per_dim(algo, shared, spaces):
    agent = make_agent(agent_spec(algo, shared, **({"seq_len": 4, "training_frequency": 8, "minibatch_size": 8} if algo == "RecurrentPPO" else {})), spaces, 1000, 0)
    states = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    for actions in (agent.act(states), agent.act_greedy(states)):
        assert actions.shape == (4, spaces.action_dim) and actions.dtype == np.int64
        high = np.asarray(spaces.action_nvec or 2)
        assert (actions >= 0).all() and (actions < high).all()
    policy = agent.policy_out(agent.as_tensor(states)) if algo != "RecurrentPPO" else None
    assert policy is None or policy.shape == (4, spaces.policy_dim)


def fill(agent, steps: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for t in range(steps):
        states = rng.standard_normal((4, 6)).astype(np.float32)
        actions = agent.act(states)
        done = np.full(4, t % 4 == 3)  # episodes of 4 steps (REINFORCE trains on whole ones)
        agent.update(states, actions, rng.random(4).astype(np.float32), states, done, np.zeros(4, bool), agent.frame + 4)


@pytest.mark.parametrize("algo", ["REINFORCE", "A2C", "PPO", "RecurrentPPO"])
@pytest.mark.parametrize("spaces", [MULTI, BITS], ids=["multidiscrete", "multibinary"])
def test_policy_gradient_agents_train_on_their_integer_actions(algo, spaces):
    extra = {"training_frequency": 8, "minibatch_size": 8, "seq_len": 4} if algo == "RecurrentPPO" else {"training_frequency": 1}
    agent = make_agent(agent_spec(algo, **extra), spaces, 1000, 0)
    before = [p.detach().clone() for p in agent.net.parameters()]
    fill(agent, 8, seed=0)
    stats = agent.drain_stats()
    assert agent.opt_step > 0 and np.isfinite(stats["loss"]) and stats["entropy"] > 0
    assert any(not torch.equal(b, p) for b, p in zip(before, agent.net.parameters()))


def test_a_checkpoint_mid_rollout_continues_exactly():
    """The rollout's [T, B, dims] integer actions travel in a weights-only checkpoint (as the
    session's does, control/checkpoint.py) and training goes on as if never stopped."""
    spec = agent_spec("PPO", training_frequency=8, minibatch_size=16, training_epoch=2)
    a, b = make_agent(spec, MULTI, 1000, 0), make_agent(spec, MULTI, 1000, 1)
    torch.manual_seed(0)
    fill(a, 13, seed=0)  # one update, then 5 steps into the next rollout
    buf = io.BytesIO()
    torch.save({"agent": a.state_dict(), "rollout": {k: torch.from_numpy(np.array(v)) for k, v in a.memory.state_dict().items()}}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    b.load_state_dict(saved["agent"])
    b.memory.load_state_dict({k: v.numpy() for k, v in saved["rollout"].items()})
    assert saved["rollout"]["actions"].dtype == torch.int64 and saved["rollout"]["actions"].shape == (8, 4, 3)
    for agent in (a, b):
        torch.manual_seed(1)
        fill(agent, 11, seed=1)
    for pa, pb in zip(a.net.parameters(), b.net.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("algo,extra", [("DQN", {}), ("DoubleDQN", {}), ("SARSA", {}), ("SAC", {}), ("CrossQ", {}),
                                        ("TD3", {}), ("DDPG", {})])
@pytest.mark.parametrize("spaces,shown", [(MULTI, "MultiDiscrete([3, 4, 5])"), (BITS, "MultiBinary(5)")])
def test_value_based_and_off_policy_algorithms_refuse_factorized_actions(algo, extra, spaces, shown):
    memory = "OnPolicyBatchReplay" if algo == "SARSA" else "Replay"
    spec = AgentSpec.model_validate({"name": "a", "algorithm": {"name": algo, **extra}, "memory": {"name": memory},
                                     "net": {"hid_layers": [8]}})
    with pytest.raises(SpecError) as err:
        make_agent(spec, spaces, 1000, 0)
    msg = str(err.value)
    assert msg.startswith(f"algorithm {algo} needs ") and f"has {shown} actions" in msg and "use REINFORCE, A2C, PPO" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("spaces", [MULTI, BITS], ids=["multidiscrete", "multibinary"])
def test_the_random_player_draws_every_dim_uniformly(spaces):
    spec = AgentSpec.model_validate({"name": "r", "algorithm": {"name": "Random"}, "memory": {"name": "OnPolicyReplay"},
                                     "net": {"hid_layers": [8]}})
    actions = make_agent(spec, spaces, 1000, 0).act(np.zeros((3000, 6), np.float32))
    high = np.broadcast_to(np.asarray(spaces.action_nvec or 2), (spaces.action_dim,))
    assert actions.shape == (3000, spaces.action_dim) and (actions >= 0).all() and (actions < high).all()
    assert np.allclose(actions.mean(0), (high - 1) / 2, atol=0.1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_multidiscrete_agent_acts_and_trains_on_the_gpu():
    agent = make_agent(agent_spec("PPO", training_frequency=4, minibatch_size=8), MULTI, 1000, 0).to(torch.device("cuda"))
    fill(agent, 4, seed=0)
    assert agent.opt_step > 0 and agent.act(np.zeros((4, 6), np.float32)).shape == (4, 3)
