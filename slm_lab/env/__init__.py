"""Environment adapters. An adapter never imports agent/: it speaks batched numpy arrays.

Every adapter has GymEnv's interface (`spaces`, `num_bodies`, `clock`, `spec`, `reset`,
`step`, `drain_finished`, `state_dict`, `load_state_dict`, `close`); `factory.make_env`
picks one by the spec's `kind`. No adapter imports this package module, and it imports only the
factory (which imports the adapters inside its function): no import cycle.
"""

from slm_lab.env.factory import make_env

__all__ = ["make_env"]
