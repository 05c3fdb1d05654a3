"""Training diagnostics graphs: the panels follow the statistics the algorithm wrote to train.csv."""

from __future__ import annotations

import numpy as np
from analysis_helpers import assert_png, table

from slm_lab.analysis import diagnostics
from slm_lab.analysis.graphs import Band, Line, SessionData
from slm_lab.analysis.report import session_end, trial_end
from slm_lab.lib import io

PPO_STATS = ["policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance"]


def ppo_train(seed: int):
    rng = np.random.default_rng(seed)
    f = np.arange(0, 10_001, 500, dtype=float)
    df = table(f, lr=3e-4 * (1 - f / 20_000))
    for k, col in enumerate(PPO_STATS):
        df[col] = rng.normal(k, 0.1, f.size)
    df["return_ma"] = np.linspace(20, 200, f.size)
    return df


def test_session_chart_has_a_panel_per_reported_statistic_plus_lr():
    df = ppo_train(0)
    chart = diagnostics.session_diagnostics_chart(df, "ppo")
    titles = [p.title for p in chart.panels]
    # entropy is a common column, not the algorithm's own: the exploration panel of the session graph has it
    assert titles == ["policy_loss", "value_loss", "approx_kl", "clip_fraction", "explained_variance", "lr"]
    line = chart.panels[1].items[0]
    assert isinstance(line, Line) and np.allclose(line.y, df["value_loss"]) and line.x[-1] == 10_000
    assert chart.panels[-1].xlabel == "frames"


def test_sac_and_dqn_columns_are_picked_up_and_empty_columns_are_skipped():
    f = np.arange(0, 2001, 500, dtype=float)
    sac = table(f, critic_loss=1.0, actor_loss=2.0, alpha_loss=0.1, alpha=0.2)
    assert diagnostics.diagnostic_columns([sac]) == ["critic_loss", "actor_loss", "alpha_loss", "alpha"]
    dqn = table(f, q_mean=np.linspace(0, 5, f.size), lr=1e-3)
    assert diagnostics.diagnostic_columns([dqn]) == ["q_mean", "lr"]
    assert diagnostics.session_diagnostics_chart(table(f), "none") is None


def test_trial_chart_is_the_mean_of_sessions_with_a_band():
    sessions = [SessionData(f"session_{s}", ppo_train(s), table(np.array([0.0]))) for s in range(3)]
    chart = diagnostics.trial_diagnostics_chart(sessions, "ppo")
    panel = chart.panels[0]
    mean = next(i for i in panel.items if isinstance(i, Line) and i.name == "mean policy_loss")
    band = next(i for i in panel.items if isinstance(i, Band))
    expected = np.mean([s.train["policy_loss"] for s in sessions], axis=0)
    assert np.allclose(mean.y, expected)
    assert (np.asarray(band.low) <= mean.y + 1e-12).all() and (mean.y <= np.asarray(band.high) + 1e-12).all()


def test_session_and_trial_end_write_diagnostics_graphs(tmp_path, make_trial):
    trial_dir, spec, dirs = make_trial(tmp_path / "trial", n_sessions=2)
    for s, d in enumerate(dirs):
        io.write_csv(d / "train.csv", ppo_train(s))
        session_end(d, spec)
        assert_png(d / "session_diagnostics.png")
    trial_end(trial_dir, spec, dirs, {})
    assert_png(trial_dir / "trial_graph_diagnostics.png")
    assert "approx_kl" in (trial_dir / "trial_graph_diagnostics.html").read_text()
    assert 'src="trial_graph_diagnostics.png"' in (trial_dir / "report.html").read_text()


def test_a_one_session_trial_reuses_its_session_diagnostics_and_a_larger_trial_draws_the_mean(tmp_path, make_trial):
    one_dir, spec, (only,) = make_trial(tmp_path / "one", n_sessions=1)
    io.write_csv(only / "train.csv", ppo_train(0))
    session_end(only, spec)
    trial_end(one_dir, spec, [only], {})
    for suffix in (".png", ".html"):  # the mean of one curve is the curve: the same file, not drawn again
        assert (one_dir / f"trial_graph_diagnostics{suffix}").read_bytes() == (only / f"session_diagnostics{suffix}").read_bytes()
    two_dir, spec, dirs = make_trial(tmp_path / "two", n_sessions=2)
    for s, d in enumerate(dirs):
        io.write_csv(d / "train.csv", ppo_train(s))
        session_end(d, spec)
    trial_end(two_dir, spec, dirs, {})
    assert "(mean of sessions)" in (two_dir / "trial_graph_diagnostics.html").read_text()
    # a session that failed is left out: the one that finished is the trial's diagnostics
    trial_end(two_dir, spec, dirs, {1: "diverged"})
    assert (two_dir / "trial_graph_diagnostics.png").read_bytes() == (dirs[0] / "session_diagnostics.png").read_bytes()
