"""The calibration statistics and the challenge's score, on posteriors whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astrotrain.components.spectral.challenge import posterior_score, weighted_ks
from astrotrain.components.spectral.posterior import (
    COVERAGE_LEVELS,
    FlowPosterior,
    GaussianPosterior,
    expected_coverage,
    hpd_credibility,
    seeded,
    tarp_fraction,
)

PLANETS, SAMPLES, DIMS = 3000, 400, 4


def gaussian_case(width: float, seed: int = 0):
    """Posteriors N(μ_i, 1) for planets whose truth is drawn from N(μ_i, 1): exactly calibrated at
    width 1; `width` < 1 is over-confident, > 1 under-confident."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.randn(PLANETS, DIMS, generator=g) * 3
    truth = centre + torch.randn(PLANETS, DIMS, generator=g)
    samples = centre + width * torch.randn(SAMPLES, PLANETS, DIMS, generator=g)
    normal = torch.distributions.Normal(centre, width)
    credibility = hpd_credibility(normal.log_prob(truth).sum(-1), normal.log_prob(samples).sum(-1))
    reference = (torch.rand(PLANETS, DIMS, generator=g) * 2 - 1) * 6
    return credibility, tarp_fraction(samples, truth, reference)


def test_a_calibrated_posterior_covers_each_level_at_that_level():
    credibility, fraction = gaussian_case(1.0)
    tolerance = 3 * np.sqrt(0.25 / PLANETS) + 1.5 / SAMPLES  # binomial 3σ at worst (α = 0.5), plus the samples' granularity
    for statistic in (credibility, fraction):
        for level, covered in expected_coverage(statistic).items():
            assert abs(covered - level) < tolerance, (level, covered)


def test_over_and_under_confident_posteriors_are_caught_at_68_and_95():
    tight, _ = gaussian_case(0.5)
    wide, _ = gaussian_case(2.0)
    # a 4-D Gaussian at half its width: the truth's χ² is 4× larger, so the 68 % region holds the truth only if χ²_4 < 4.7/4
    assert expected_coverage(tight)[0.68] < 0.15 and expected_coverage(tight)[0.95] < 0.45
    assert expected_coverage(wide)[0.68] > 0.99 and expected_coverage(wide)[0.95] > 0.999
    assert len(COVERAGE_LEVELS) == 10 and {0.68, 0.95} <= set(COVERAGE_LEVELS)


def test_gaussian_head_log_prob_and_samples_agree_with_its_moments():
    torch.manual_seed(0)
    head = GaussianPosterior(hidden=8, dims=3, nll_weight=0.1)
    head.sigma_scale.copy_(torch.tensor([1.0, 2.0, 0.5]))
    h = torch.randn(5, 8)
    with torch.no_grad():
        mean, logvar = head.moments(h)
        sigma = (0.5 * logvar).exp() * head.sigma_scale
        samples = head.sample(h, 20000)
        torch.testing.assert_close(samples.mean(0), mean, atol=4 * float(sigma.max()) / np.sqrt(20000), rtol=0)
        torch.testing.assert_close(samples.std(0), sigma, rtol=0.03, atol=0)
        point = mean + torch.tensor([1.0, -2.0, 0.5]) * sigma  # 1, 2 and ½ σ away: log N = −z²/2 − ln σ − ln √2π
        expected = (-0.5 * torch.tensor([1.0, 4.0, 0.25]) - sigma.log() - 0.5 * np.log(2 * np.pi)).sum(-1)
        torch.testing.assert_close(head.log_prob(point, h), expected)


def test_ks_distance_of_known_distributions():
    rng = np.random.default_rng(0)
    a = rng.normal(size=4000)
    assert weighted_ks(a, a, np.full(len(a), 1 / len(a))) == pytest.approx(0.0, abs=1e-12)
    assert weighted_ks(a, a + 100.0, np.full(len(a), 1 / len(a))) == pytest.approx(1.0, abs=1e-12)
    # a weighted reference: two atoms with weights 0.8 / 0.2 against samples split 50/50 → distance 0.3
    samples = np.r_[np.zeros(500), np.ones(500)]
    assert weighted_ks(samples, np.array([0.0, 1.0]), np.array([0.8, 0.2])) == pytest.approx(0.3)
    # N(0,1) vs N(0.5,1): the K-S distance is 2Φ(0.25) − 1 = 0.197
    b = rng.normal(0.5, 1.0, size=200000)
    assert weighted_ks(rng.normal(size=200000), b, np.full(len(b), 1 / len(b))) == pytest.approx(0.197, abs=0.01)


def test_posterior_score_rewards_the_reference_posterior_over_a_shifted_one():
    rng = np.random.default_rng(1)
    traces = [(rng.normal(size=(300, 7)), np.full(300, 1 / 300)) for _ in range(10)]
    same = [rng.normal(size=(500, 7)) for _ in range(10)]
    shifted = [rng.normal(1.0, 1.0, size=(500, 7)) for _ in range(10)]
    assert posterior_score(same, traces) > 900  # only the samples' finite number keeps it below 1000
    assert posterior_score(shifted, traces) == pytest.approx(1000 * (1 - 0.383), abs=40)  # 2Φ(0.5) − 1 = 0.383


def test_flow_samples_and_densities_per_planet_and_reproducibly():
    torch.manual_seed(0)
    flow = FlowPosterior(hidden=6, dims=3, transforms=2, width=16, bins=4)
    h = torch.randn(5, 6)
    with torch.no_grad(), seeded(7, h.device):
        samples = flow.sample(h, 40)
    with torch.no_grad(), seeded(7, h.device):
        again = flow.sample(h, 40)
    assert samples.shape == (40, 5, 3) and torch.equal(samples, again)
    with torch.no_grad():
        dense = flow.log_prob(samples, h)
        one = flow.log_prob(samples[:, 2], h[2:3].expand(40, -1))  # planet 2 alone, its context repeated
    assert dense.shape == (40, 5)
    torch.testing.assert_close(dense[:, 2], one, rtol=1e-5, atol=1e-5)
    # a normalised density: the mean of 1/q over samples of q estimates the volume of its support, and
    # importance sampling a unit Gaussian with q gives E_q[N(θ)/q(θ)] = 1
    with torch.no_grad(), seeded(8, h.device):
        many = flow.sample(h[:1], 20000)
        ratio = torch.distributions.Normal(0.0, 1.0).log_prob(many).sum(-1) - flow.log_prob(many, h[:1])
    assert float(ratio.exp().mean()) == pytest.approx(1.0, abs=0.1)
