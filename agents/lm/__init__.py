"""The language-model RL core that PPO (:mod:`agents.ppo`) and the GRPO family (:mod:`agents.grpo`) share: the
canonical home of these names (the same objects stay importable from their old ``agents.ppo.*`` modules).

Modules in reading order: ``config`` (:class:`RunConfig`, the settings every trainer starts with, and the shared
checks), ``policy`` (the LM policy, :class:`ActorCritic`'s value head, :class:`TokenLogits`, autocast), ``batch``
(:class:`TokenBatch`, the typed batches' base), ``rollout`` (episodes through the vector env, decoded by
:mod:`textenvs.decoding`), ``kl`` (estimators and controllers), ``stats`` (masked statistics), ``losses`` (the
leave-one-out baseline and the clipped surrogate), ``trainer`` (:class:`LMTrainer`: the loop, the optimizer step,
the learning-rate schedule, checkpoints, logging).
"""

from agents.lm.batch import TokenBatch
from agents.lm.config import RunConfig
from agents.lm.kl import kl_estimate
from agents.lm.losses import clipped_surrogate, leave_one_out_baseline
from agents.lm.policy import ActorCritic, TokenLogits
from agents.lm.rollout import Rollout, collect_rollout
from agents.lm.stats import masked_mean, masked_var, masked_whiten
from agents.lm.trainer import LMTrainer, ScoredRollout

__all__ = ["ActorCritic", "LMTrainer", "Rollout", "RunConfig", "ScoredRollout", "TokenBatch", "TokenLogits",
           "clipped_surrogate", "collect_rollout", "kl_estimate", "leave_one_out_baseline", "masked_mean",
           "masked_var", "masked_whiten"]
