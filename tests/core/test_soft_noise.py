"""The noise of soft and fuzzy thinking, measured on what the sampler fed the model.

A soft step feeds `p @ E + sigma * eps` with `sigma = noise_scale * RMS(E)` (DESIGN.md,
thinking modes). At a CoT temperature near zero the mixture `p @ E` is the embedding row of
the step's token, so `input - E[token]` is the noise itself, and its empirical std must be
`sigma`.
"""

from __future__ import annotations

import pytest
import torch

from reasonloop.sampling import SamplingParams, ThinkingConfig
from reasonloop.sampling.decoder import Sampler
from reasonloop.sampling.thinking import embedding_matrix

PROMPTS = ["Hello there", "a", "The quick brown fox jumps over", "2 + 2 ="]
STEPS = 16


# Two scales, so that a scale applied twice (0.5**2, 2**2) fails as well as a wrong RMS.
@pytest.mark.parametrize(("mode", "noise_scale"), [("soft", 0.5), ("fuzzy", 2.0)])
def test_fed_noise_has_std_noise_scale_times_the_embeddings_rms(
    tiny, mode: str, noise_scale: float
) -> None:
    embeddings = embedding_matrix(tiny.model).detach().float()
    sigma = noise_scale * embeddings.pow(2).mean().sqrt().item()
    thinking = ThinkingConfig(
        mode=mode,  # type: ignore[arg-type]
        temperature=1e-6,
        noise_scale=noise_scale,
        max_tokens=STEPS,
        end_marker="\u2603",  # three byte tokens: the budget ends the thought
    )
    params = SamplingParams(max_new_tokens=1, temperature=0, seed=7, n=4, thinking=thinking)
    groups = Sampler(tiny.model, tiny.tokenizer).generate(PROMPTS, params)
    completions = [c for group in groups for c in group]
    noise = []
    for completion in completions:
        trace = completion.thinking
        assert trace is not None and trace.inputs is not None
        assert trace.inputs.shape == (len(trace.tokens), embeddings.shape[1])
        assert trace.sigma == pytest.approx(sigma, rel=1e-6)
        noise.append(trace.inputs.float() - embeddings[trace.tokens])
    fed = torch.cat(noise)
    count = fed.numel()
    assert count >= len(completions) * 8 * embeddings.shape[1]  # most thoughts ran their budget
    # The std of n Gaussian draws is within ~1/sqrt(2n) of sigma (here < 1%): 5% cannot flake.
    assert fed.std().item() == pytest.approx(sigma, rel=0.05)
    assert abs(fed.mean().item()) < 5 * sigma / count**0.5
    # independent draws: two samples of one prompt got different noise
    assert not torch.allclose(noise[0][0], noise[1][0])
