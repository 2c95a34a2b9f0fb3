"""The flags every perf benchmark shares (benchmarks/perf/common.py)."""

import pytest
import torch

from benchmarks.perf.common import model_argument_parser, torch_dtype


def test_model_arguments_parse_to_a_torch_dtype():
    parser = model_argument_parser("a perf script")
    args = parser.parse_args(["--size", "small", "--dtype", "bf16", "--prompt-tokens", "8"])
    assert (args.size, args.device, args.prompt_tokens, args.new_tokens) == ("small", "cpu", 8, 32)
    assert torch_dtype(args.dtype) is torch.bfloat16
    assert torch_dtype(parser.parse_args([]).dtype) is torch.float32
    with pytest.raises(SystemExit):
        parser.parse_args(["--dtype", "fp16"])
