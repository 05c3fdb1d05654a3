"""`slm-lab migrate OLD.json`: spec files of SLM Lab v4 / v5 (kengz/SLM-Lab) in this lab's form.

What changes (docs/SPEC.md, "Specs from SLM Lab"): JSON with trailing commas is read; object-form
`agent` / `env` become lists; algorithm names map (ActorCritic -> A2C, Reinforce -> REINFORCE,
VanillaDQN -> DQN, SoftActorCritic -> SAC); `time_horizon` -> `training_frequency`;
`actor_optim_spec` -> `optim_spec` (`use_same_optim` drops the critic's); lr scheduler names map;
Dueling nets become `dueling: true`; `frame_op: concat` -> `frame_stack`; the nested search
block becomes dotted keys. Every key dropped or not mapped is reported with why, one line each.
Keys the target block does not have are dropped last, so the result passes the schema's key check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from slm_lab.spec.errors import SpecError

ALGORITHM_NAMES = {"ActorCritic": "A2C", "Reinforce": "REINFORCE", "VanillaDQN": "DQN", "DQN": "DQN",
                   "DoubleDQN": "DoubleDQN", "SARSA": "SARSA", "PPO": "PPO", "SoftActorCritic": "SAC", "SAC": "SAC"}
NET_NAMES = {"MLPNet": ("MLPNet", False), "DuelingMLPNet": ("MLPNet", True), "ConvNet": ("ConvNet", False),
             "DuelingConvNet": ("ConvNet", True), "RecurrentNet": ("RecurrentNet", False)}
MEMORY_NAMES = {"Replay": "Replay", "PrioritizedReplay": "PrioritizedReplay", "OnPolicyReplay": "OnPolicyReplay",
                "OnPolicyBatchReplay": "OnPolicyBatchReplay", "OnPolicyAtariReplay": "OnPolicyBatchReplay",
                "OnPolicyAtariBatchReplay": "OnPolicyBatchReplay", "AtariReplay": "AtariReplay",
                "AtariPrioritizedReplay": "PrioritizedReplay"}
LR_SCHEDULERS = {"LinearToZero": {"name": "linear", "end_factor": 0.0}, "StepLR": {"name": "step"},
                 "ExponentialLR": {"name": "exponential"}}
POLICY_GRADIENT = ("REINFORCE", "A2C", "PPO")


class Migration:
    """One spec's conversion and the notes on what it dropped or could not map."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.notes: list[str] = []

    def note(self, path: str, why: str) -> None:
        self.notes.append(f"{self.name}: {path}: {why}")

    def drop(self, block: dict[str, Any], key: str, path: str, why: str) -> None:
        if key in block:
            value = block.pop(key)
            self.note(f"{path}.{key}", f"dropped ({json.dumps(value)}): {why}")


def read_old_json(path: Path) -> dict[str, Any]:
    """v4 / v5 files: JSON with trailing commas allowed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(f"{path}: cannot read: {e}") from None
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected an object of named specs")
    return data


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _algorithm(m: Migration, algo: dict[str, Any], path: str, net: dict[str, Any]) -> str:
    old = algo.get("name", "")
    name = ALGORITHM_NAMES.get(old)
    if name is None:
        raise SpecError(f"{m.name}: {path}.name: SLM Lab algorithm '{old}' has no counterpart here "
                        f"(known: {', '.join(ALGORITHM_NAMES)})")
    if name != old:
        m.note(f"{path}.name", f"{old} -> {name}")
    algo["name"] = name
    pdtype = algo.pop("action_pdtype", None)
    if pdtype not in (None, "default", "Categorical", "Normal", "MultiCategorical", "Bernoulli"):
        m.note(f"{path}.action_pdtype", f"dropped ({pdtype}): the lab's distribution follows the action space "
                                       "(Categorical for Discrete, Normal for Box, MultiCategorical for MultiDiscrete, "
                                       "Bernoulli for MultiBinary), not this one")
    if "time_horizon" in algo:
        algo["training_frequency"] = algo.pop("time_horizon")
        m.note(f"{path}.time_horizon", "-> training_frequency (rollout length per body)")
    if name == "A2C" and algo.get("lam") is not None and algo.get("num_step_returns") is not None:
        m.drop(algo, "num_step_returns", path, "lam (GAE) is set; the lab takes one estimator")
    if name in ("DQN", "DoubleDQN", "SAC") and "training_iter" in algo:
        iters = algo.pop("training_iter")
        algo["training_batch_iter"] = int(algo.get("training_batch_iter", 1)) * int(iters)
        m.note(f"{path}.training_iter", f"folded into training_batch_iter ({algo['training_batch_iter']} gradient steps per training)")
    if name in POLICY_GRADIENT or name == "SAC":
        if algo.get("explore_var_spec") is None:
            algo.pop("explore_var_spec", None)
        else:
            m.drop(algo, "explore_var_spec", path, f"{name} explores through its policy")
        if algo.get("action_policy") not in (None, "default"):
            m.drop(algo, "action_policy", path, f"{name} samples its policy (action_policy default)")
    if algo.get("entropy_coef_spec") is None:
        algo.pop("entropy_coef_spec", None)
    coef = algo.pop("policy_loss_coef", None)
    if coef not in (None, 1, 1.0):
        m.note(f"{path}.policy_loss_coef", f"dropped ({coef}): the policy loss has weight 1 here; scale val_loss_coef instead")
    for key in ("explore_var_spec", "entropy_coef_spec", "clip_eps_spec"):
        sched = algo.get(key)
        if isinstance(sched, dict) and sched.get("name") == "no_decay":
            for k in ("end_val", "start_step", "end_step"):
                sched.pop(k, None)
    return name


def _net(m: Migration, net: dict[str, Any], path: str) -> None:
    old = net.get("type", "MLPNet")
    if old not in NET_NAMES:
        raise SpecError(f"{m.name}: {path}.type: SLM Lab net '{old}' has no counterpart here (known: {', '.join(NET_NAMES)})")
    net["type"], dueling = NET_NAMES[old]
    if dueling:
        net["dueling"] = True
        m.note(f"{path}.type", f"{old} -> {net['type']} with dueling: true")
    if "actor_optim_spec" in net:
        net["optim_spec"] = net.pop("actor_optim_spec")
        m.note(f"{path}.actor_optim_spec", "-> optim_spec")
    if net.pop("use_same_optim", False):
        m.drop(net, "critic_optim_spec", path, "use_same_optim: the critic trains with optim_spec")
    sched = net.get("lr_scheduler_spec", "absent")
    if sched is None:
        net.pop("lr_scheduler_spec")
    elif isinstance(sched, dict):
        mapped = LR_SCHEDULERS.get(sched.get("name"))
        if mapped is None:
            m.drop(net, "lr_scheduler_spec", path, f"scheduler {sched.get('name')} has no counterpart (constant lr)")
        else:
            extra = {"gamma": sched["gamma"]} if "gamma" in sched and mapped["name"] != "linear" else {}
            net["lr_scheduler_spec"] = {**mapped, **extra}
            m.note(f"{path}.lr_scheduler_spec", f"{sched.get('name')} -> {mapped['name']}")
    if "conv_hid_layers" in net:
        layers = net["conv_hid_layers"]
        if any(len(layer) > 3 and list(layer[3:]) not in ([0], [0, 1]) for layer in layers):
            m.note(f"{path}.conv_hid_layers", "padding / dilation other than 0 / 1 dropped: layers are [out, kernel, stride]")
        net["conv_hid_layers"] = [list(layer[:3]) for layer in layers]
    if net.get("gpu") is None:
        net.pop("gpu", None)
    if "polyak_coef" in net:
        _polyak(m, net, path)
    init = net.get("init_fn", "absent")
    if init is None:
        net.pop("init_fn")
    elif isinstance(init, str) and init.endswith("_"):
        net["init_fn"] = init.rstrip("_")  # torch's in-place names: orthogonal_ -> orthogonal
    for key in ("hid_layers_activation",):
        if net.get(key) == "leakyrelu":
            net[key] = "leaky_relu"
    for key in ("optim_spec", "critic_optim_spec"):
        optim = net.get(key)
        if isinstance(optim, dict) and optim.get("name") in ("Lookahead", "RAdam", "GlobalAdam", "GlobalRMSprop"):
            inner = optim.get("optimizer", optim["name"]).replace("Global", "").replace("RAdam", "Adam")
            m.note(f"{path}.{key}.name", f"{optim['name']} -> {inner}: Lookahead / RAdam / shared-memory optimizers are not here")
            net[key] = {"name": inner, "lr": optim.get("lr", 1e-3)}
    for key, why in (("out_layer_activation", "output layers are linear here"),
                     ("batch_norm", "no batch norm in the lab's nets"),
                     ("normalize", "image scaling is done by the env's preprocessing")):
        m.drop(net, key, path, why)


def _polyak(m: Migration, net: dict[str, Any], path: str) -> None:
    """SLM Lab keeps `polyak_coef` of the target (target = c * target + (1 - c) * net); this lab's
    is the step towards the net (target += c * (net - target)): c here = 1 - c there."""
    old = net.pop("polyak_coef")
    if net.get("update_type", "replace") != "polyak":
        return  # unused by replace updates
    if old == 0:
        net["update_type"] = "replace"
        m.note(f"{path}.polyak_coef", "0 (a full copy) -> update_type replace every update_frequency")
        return
    net["polyak_coef"] = round(1.0 - float(old), 10)
    m.note(f"{path}.polyak_coef", f"{old} -> {net['polyak_coef']} (this lab's coefficient is the step towards the net)")


def _env(m: Migration, env: dict[str, Any], path: str) -> None:
    op = env.pop("frame_op", None)
    length = env.pop("frame_op_len", None)
    if op == "concat" or op == "stack":
        env["frame_stack"] = length
        m.note(f"{path}.frame_op", f"{op} x{length} -> frame_stack {length}")
    elif op is not None:
        m.note(f"{path}.frame_op", f"dropped ({op}): only frame stacking is supported")
    scale = env.pop("reward_scale", None)
    if scale == "sign":
        env["clip_reward"] = True
        m.note(f"{path}.reward_scale", "sign -> clip_reward: true")
    elif scale not in (None, 1, 1.0):
        m.note(f"{path}.reward_scale", f"dropped ({scale}): rewards are not scaled here")
    if env.get("normalize_state"):
        env["normalize_obs"] = True
        m.note(f"{path}.normalize_state", "-> normalize_obs")
    env.pop("normalize_state", None)
    if env.get("max_t") is None:
        env.pop("max_t", None)
    name = env.get("name")
    if isinstance(name, str) and "${" not in name and ":" not in name:
        newer = _newest_version(name)
        if newer is not None and newer != name:
            env["name"] = newer
            m.note(f"{path}.name", f"{name} -> {newer}: Gymnasium registers only the newer version")


def _newest_version(env_id: str) -> str | None:
    """The registered id for `env_id`, or the newest registered version of the same env."""
    import gymnasium as gym

    try:
        import ale_py

        gym.register_envs(ale_py)
    except ImportError:  # pragma: no cover
        pass
    if env_id in gym.envs.registry:
        return env_id
    base = re.sub(r"-v\d+$", "", env_id)
    versions = [k for k in gym.envs.registry if re.fullmatch(re.escape(base) + r"-v\d+", k)]
    return max(versions, key=lambda k: int(k.rsplit("-v", 1)[1])) if versions else None


def _meta(m: Migration, meta: dict[str, Any]) -> None:
    distributed = meta.pop("distributed", None)
    if distributed not in (None, False):
        m.note("meta.distributed", f"dropped ({distributed}): no Hogwild sessions here; sessions train independently")
    if "random_seed" in meta:
        seed = meta.pop("random_seed")
        if isinstance(seed, int):
            meta["seed"] = seed
    if meta.get("search") in ("RandomSearch", "random"):
        meta["search"] = "random"
    elif "search" in meta:
        m.note("meta.search", f"{meta['search']} -> random")
        meta["search"] = "random"
    scheduler = meta.get("search_scheduler")
    if isinstance(scheduler, dict):
        meta["search_scheduler"] = "asha"
        m.note("meta.search_scheduler", f"{json.dumps(scheduler)} -> asha (its own grace period and reduction factor)")
    for key in ("max_tick_unit", "rigorous_eval", "resources", "param_spec_process", "num_cpus", "num_gpus"):
        m.drop(meta, key, "meta", "no such setting here")


def flatten_search(search: Any, prefix: str = "") -> dict[str, Any]:
    """v4 / v5's nested search block as this lab's dotted keys (`agent.0.algorithm.lam__grid_search`)."""
    flat: dict[str, Any] = {}
    items = enumerate(search) if isinstance(search, list) else search.items()
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        if "__" in str(key):
            flat[path] = value
        elif isinstance(value, (dict, list)):
            flat.update(flatten_search(value, path))
    return flat


def _search(m: Migration, raw: dict[str, Any]) -> None:
    search = raw.get("search")
    if not search:
        raw.pop("search", None)
        return
    if isinstance(search.get("agent"), dict):
        search["agent"] = [search["agent"]]
    if isinstance(search.get("env"), dict):
        search["env"] = [search["env"]]
    flat = {}
    renames = {"actor_optim_spec": "optim_spec", "time_horizon": "training_frequency"}
    for key, value in flatten_search(search).items():
        parts = [renames.get(part, part) for part in key.split(".")]
        if parts[0] in ("agent", "env") and len(parts) > 1 and not parts[1].isdigit():
            parts.insert(1, "0")  # v5's object-form agent / env
        flat[".".join(parts)] = value
    raw["search"] = flat


def _prune_search(m: Migration, raw: dict[str, Any], models: dict[str, dict[str, Any]]) -> None:
    """Drop search keys whose target key was dropped or has no counterpart."""
    for key in list(raw.get("search") or {}):
        parts = key.rsplit("__", 1)[0].split(".")
        node: Any = raw
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) and part.isdigit() and int(part) < len(node) else (
                node.get(part) if isinstance(node, dict) else None)
        leaf = parts[-1]
        block = parts[-2] if len(parts) > 1 else ""
        model = models.get(block, {}).get((node or {}).get("type" if block == "net" else "name", "MLPNet" if block == "net" else ""))
        known = isinstance(node, dict) and (leaf in node or (model is not None and leaf in model.model_fields))
        if not known:
            m.note(f"search.{key}", "dropped: the key it searches has no counterpart here")
            del raw["search"][key]


def _unknown_keys(m: Migration, block: dict[str, Any], model: Any, path: str) -> None:
    """Drop what the target model has no field for (the schema would refuse it)."""
    for key in [k for k in block if k not in model.model_fields]:
        m.drop(block, key, path, f"no such key for {block.get('name') or block.get('type') or path} here")


def migrate_spec(name: str, raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    from slm_lab.spec import schema
    from slm_lab.spec.plugin_schema import _models

    m = Migration(name)
    raw = json.loads(json.dumps(raw))
    raw["agent"] = _as_list(raw.get("agent", []))
    raw["env"] = _as_list(raw.get("env", []))
    algorithms = _models(schema.AlgorithmSpec, "name")
    memories = _models(schema.MemorySpec, "name")
    nets = _models(schema.NetSpec, "type")
    for a, agent in enumerate(raw["agent"]):
        net = agent.setdefault("net", {})
        algo_name = _algorithm(m, agent["algorithm"], f"agent[{a}].algorithm", net)
        _net(m, net, f"agent[{a}].net")
        seq_len = net.pop("seq_len", None)
        if seq_len is not None:
            for env in raw["env"]:
                if isinstance(env, dict) and env.get("frame_stack") is None:
                    env["frame_stack"] = seq_len
            m.note(f"agent[{a}].net.seq_len", f"-> env frame_stack {seq_len} (the RecurrentNet runs over stacked observations)")
        mem = agent.get("memory", {})
        old_mem = mem.get("name")
        if old_mem not in MEMORY_NAMES:
            raise SpecError(f"{name}: agent[{a}].memory.name: SLM Lab memory '{old_mem}' has no counterpart here")
        mem["name"] = MEMORY_NAMES[old_mem]
        if mem["name"] != old_mem:
            m.note(f"agent[{a}].memory.name", f"{old_mem} -> {mem['name']}")
        if mem.get("use_cer"):
            m.note(f"agent[{a}].memory.use_cer", "dropped (true): combined experience replay is not supported")
        mem.pop("use_cer", None)
        allowed = schema.ALGORITHM_MEMORIES[algo_name]
        if mem["name"] not in allowed:
            m.note(f"agent[{a}].memory.name", f"{mem['name']} -> {allowed[0]}: {algo_name} learns from {', '.join(allowed)}")
            mem = {"name": allowed[0], **{k: v for k, v in mem.items() if k != "name"}}
            agent["memory"] = mem
        _unknown_keys(m, agent["algorithm"], algorithms[algo_name], f"agent[{a}].algorithm")
        _unknown_keys(m, mem, memories[mem["name"]], f"agent[{a}].memory")
        _unknown_keys(m, net, nets[net["type"]], f"agent[{a}].net")
        _unknown_keys(m, agent, schema.AgentSpec, f"agent[{a}]")
    for e, env in enumerate(raw["env"]):
        _env(m, env, f"env[{e}]")
        _unknown_keys(m, env, schema.EnvSpec, f"env[{e}]")
    _meta(m, raw.setdefault("meta", {}))
    _unknown_keys(m, raw["meta"], schema.MetaSpec, "meta")
    body = raw.get("body")
    if isinstance(body, dict) and body.get("num") == 1 and body.get("product", "outer") == "outer":
        body.pop("num")  # v4 / v5: one body per vector env; here body.num counts its copies (num_envs)
    _search(m, raw)
    _prune_search(m, raw, {"algorithm": algorithms, "memory": memories, "net": nets})
    _unknown_keys(m, raw, schema.Spec, "spec")
    return raw, m.notes


def migrate_file(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Every spec of an SLM Lab v4 / v5 file in this lab's form, and the notes on what changed."""
    old = read_old_json(Path(path))
    out: dict[str, Any] = {}
    notes: list[str] = []
    for name, raw in old.items():
        if not isinstance(raw, dict):
            raise SpecError(f"{path}: spec '{name}' is not an object")
        out[name], spec_notes = migrate_spec(name, raw)
        notes += spec_notes
    return out, notes
