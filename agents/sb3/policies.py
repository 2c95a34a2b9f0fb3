"""SB3 policies whose trunk and action head are a Hugging Face causal language model.

:class:`TransformerExtractor` reads the textenvs ``Dict`` observation (left-padded prompt + right-padded generation),
runs the transformer over the assembled sequence and returns the hidden state at the last real token.
:class:`TransformerActorCriticPolicy` (PPO, A2C) and :class:`MaskableTransformerActorCriticPolicy` (MaskablePPO)
use the model's own LM head as SB3's ``action_net``, so the untrained SB3 policy *is* the model's next-token
distribution, and a zero-initialized linear ``value_net`` on the same hidden state.

SB3 has no KV cache: every step re-runs the transformer over the whole sequence of every sub-env (see
``benchmarks/sb3/README.md`` for what that costs). Columns that are padding in every row of the batch are dropped
first (:func:`textenvs.decoding.next_token_hidden`), so a forward costs the longest real sequence, not ``P + N``.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.distributions import MaskableCategoricalDistribution
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from textenvs.decoding import next_token_hidden

OBSERVATION_KEYS = ("prompt_ids", "prompt_mask", "generated_ids", "generated_mask")
MAX_EXACT_FLOAT32_ID = 2 ** 24
"""SB3 turns Box observations into float32 (and its rollout buffers store them so): integer ids are exact below this."""


def check_token_observation_space(observation_space: spaces.Space) -> None:
    """Refuse observation spaces SB3 would one-hot encode or round: token ids must be integer ``Box``es.

    SB3 one-hot encodes ``Discrete``/``MultiDiscrete`` observations (vocab × length floats per sample) and stores
    every observation as float32, which represents integers exactly only below 2**24.
    """
    subspaces = observation_space.spaces if isinstance(observation_space, spaces.Dict) else {"": observation_space}
    for key, space in subspaces.items():
        if isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)):
            raise TypeError(f"Observation {key!r} is {space}; SB3 would one-hot encode it ({space} → vocabulary × "
                            "length floats per sample). Token observations must be integer Box spaces.")
        if isinstance(space, spaces.Box) and float(space.high.max()) >= MAX_EXACT_FLOAT32_ID:
            raise ValueError(f"Observation {key!r} holds values up to {space.high.max()}; SB3 stores observations as "
                             f"float32, exact only below {MAX_EXACT_FLOAT32_ID}.")


class TransformerExtractor(BaseFeaturesExtractor):
    """SB3 features extractor around a Hugging Face causal LM (``AutoModelForCausalLM``-style, ``observation_mode=
    "causal"``): features = the final hidden state at the last real token.

    Dropout stays off even in SB3's training mode: PPO's probability ratio must compare the rollout policy with
    the same deterministic function, as in our PPO and TRL.

    :param observation_space: the env's ``Dict`` observation space (integer ``Box`` token ids and masks).
    :param model: the causal LM (its LM head becomes the policy's action head); trained in place.
    """

    def __init__(self, observation_space: spaces.Dict, model: nn.Module) -> None:
        check_token_observation_space(observation_space)
        missing = [key for key in OBSERVATION_KEYS if key not in observation_space.spaces]
        if missing:
            raise KeyError(f"TransformerExtractor needs observation keys {OBSERVATION_KEYS}; missing {missing}.")
        if getattr(model.config, "is_encoder_decoder", False):
            raise ValueError("TransformerExtractor supports causal LMs (observation_mode='causal'), not "
                             f"encoder-decoder models ({type(model).__name__}).")
        super().__init__(observation_space, features_dim=int(model.config.hidden_size))
        self.model = model.eval()

    @property
    def lm_head(self) -> nn.Module:
        return self.model.get_output_embeddings()

    def train(self, mode: bool = True) -> "TransformerExtractor":
        super().train(mode)
        self.model.eval()  # dropout off in rollouts and updates alike
        return self

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        # SB3 hands Box observations over as float32 (exact for ids < 2**24, checked above): back to integers.
        ids = {key: observations[key].long() for key in OBSERVATION_KEYS}
        return next_token_hidden(self.model, ids["prompt_ids"], ids["prompt_mask"], ids["generated_ids"],
                                       ids["generated_mask"])


class _TransformerHeads:
    """Replaces SB3's ``_build``: the LM head is the action net, a zero-initialized linear layer the value net.

    ``net_arch=[]`` makes SB3's MLP extractor the identity, so both heads read the transformer's hidden state.
    SB3's orthogonal initialization is never applied: it would overwrite every Linear of the pretrained model.
    """

    features_extractor: TransformerExtractor

    def _build(self, lr_schedule: Schedule) -> None:
        self._build_mlp_extractor()
        if not isinstance(self.action_dist, (CategoricalDistribution, MaskableCategoricalDistribution)):
            raise TypeError(f"Transformer policies need a Discrete(vocab) action space, got {self.action_space}.")
        vocab = int(self.action_space.n)
        head = self.features_extractor.lm_head
        if head.out_features != vocab:
            raise ValueError(f"The model's LM head has {head.out_features} outputs but the action space is "
                             f"Discrete({vocab}); the model must use the env's tokenizer (len(tokenizer) == {vocab}).")
        self.action_net = head
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        nn.init.zeros_(self.value_net.weight)  # zero value at start: no noise in the first advantages
        nn.init.zeros_(self.value_net.bias)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)


def _transformer_policy_kwargs(ortho_init: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
    if ortho_init:
        raise ValueError("ortho_init=True would re-initialize every Linear layer of the pretrained transformer "
                         "(SB3 applies it to the features extractor); transformer policies require ortho_init=False.")
    fixed = dict(net_arch=[], features_extractor_class=TransformerExtractor, share_features_extractor=True)
    for name, value in fixed.items():
        given = kwargs.pop(name, value)
        if given != value:
            raise ValueError(f"{name}={given!r} is not supported: transformer policies fix {name}={value!r} "
                             "(both heads read the transformer's hidden state directly).")
    return dict(ortho_init=False, **fixed, **kwargs)


class TransformerActorCriticPolicy(_TransformerHeads, ActorCriticPolicy):
    """``ActorCriticPolicy`` for PPO/A2C: transformer trunk, LM-head actor, linear critic.

    Pass the model with ``policy_kwargs=dict(features_extractor_kwargs=dict(model=model))``.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Schedule,
                 ortho_init: bool = False, **kwargs: Any) -> None:
        super().__init__(observation_space, action_space, lr_schedule, **_transformer_policy_kwargs(ortho_init, kwargs))


class MaskableTransformerActorCriticPolicy(_TransformerHeads, MaskableActorCriticPolicy):
    """``MaskableActorCriticPolicy`` for sb3_contrib's MaskablePPO with the same transformer trunk and heads."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Schedule,
                 ortho_init: bool = False, **kwargs: Any) -> None:
        super().__init__(observation_space, action_space, lr_schedule, **_transformer_policy_kwargs(ortho_init, kwargs))
