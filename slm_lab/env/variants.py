"""Environment variants for multitask specs: the same task with other physics.

Use as an entry point, e.g. `{"name": "slm_lab.env.variants:CartPoleVariant",
"kwargs": {"length": 1.0, "masspole": 0.3}}`: one agent with bodies in CartPole-v1 and in
this variant learns one set of weights for both.
"""

from __future__ import annotations

from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class CartPoleVariant(CartPoleEnv):
    """CartPole with settable physics: pole half-length, pole mass, cart mass, push force, gravity.

    Episodes are cut at 500 steps like CartPole-v1 (set with the env spec's `max_t`).
    """

    def __init__(self, length: float = 0.5, masspole: float = 0.1, masscart: float = 1.0,
                 force_mag: float = 10.0, gravity: float = 9.8, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        self.gravity, self.masscart, self.masspole, self.length, self.force_mag = gravity, masscart, masspole, length, force_mag
        # derived quantities the dynamics use
        self.total_mass = self.masspole + self.masscart
        self.polemass_length = self.masspole * self.length
