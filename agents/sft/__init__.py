"""Supervised warm start of a policy on an env's dataset (teacher forcing in the env's own token layout)."""

from agents.sft.trainer import SFTConfig, encode_pairs, make_batch, save_checkpoint, token_loss, train_sft

__all__ = ["SFTConfig", "encode_pairs", "make_batch", "save_checkpoint", "token_loss", "train_sft"]
