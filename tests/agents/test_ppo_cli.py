"""``textenvs train ppo --resume``: explicit flags are honoured, checkpoint-shaping changes refused, and a resume
that cannot work ends in one line naming the problem (no traceback)."""

from __future__ import annotations

import json

import pytest

from agents.grpo import cli as grpo_cli
from agents.grpo.config import GRPOConfig
from agents.ppo import cli
from agents.ppo.config import PPOConfig


def _run_dir(tmp_path, checkpoint=True, **settings):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    config = {**PPOConfig().to_dict(), "out": str(out), **settings}
    (out / "config.json").write_text(json.dumps(config))
    if checkpoint:
        (out / "checkpoints" / "iteration_000002.pt").write_bytes(b"")
    return out


def _resumed(*argv):
    return cli._resumed(vars(cli.build_parser().parse_args(list(argv))))


def test_a_flag_given_with_its_default_value_overrides_the_saved_one(tmp_path, capsys):
    out = _run_dir(tmp_path, temperature=0.7, iterations=10, top_k=5)
    arguments = _resumed("--out", str(out), "--resume", "--temperature", "1.0", "--iterations", "20")
    assert arguments["temperature"] == 1.0 and arguments["iterations"] == 20
    assert arguments["top_k"] == 5, "flags not given keep the saved value"
    err = capsys.readouterr().err
    assert "resuming with --temperature 1.0 (saved run: 0.7)" in err and "--iterations 20 (saved run: 10)" in err
    assert PPOConfig(**arguments).temperature == 1.0


def test_boolean_and_none_flags_given_explicitly_are_honoured(tmp_path):
    out = _run_dir(tmp_path, whiten_advantages=False, target_kl=0.5)
    arguments = _resumed("--out", str(out), "--resume", "--whiten-advantages", "--target-kl", "none")
    assert arguments["whiten_advantages"] is True and arguments["target_kl"] is None


@pytest.mark.parametrize("flag, value, name", [("--model", "other/model", "model"), ("--lora-r", "8", "lora_r"),
                                               ("--env", "textenvs/Dialogue-v0", "env"),
                                               ("--env-kwargs", '{"max_new_tokens": 4}', "env_kwargs")])
def test_changing_a_checkpoint_shaping_setting_is_refused_naming_it(tmp_path, capsys, flag, value, name):
    out = _run_dir(tmp_path)
    assert cli.main(["--out", str(out), "--resume", flag, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("textenvs train ppo: --resume cannot change") and f"{flag} was" in err
    assert "Traceback" not in err


def test_resume_into_a_missing_directory_or_before_the_first_checkpoint(tmp_path, capsys):
    assert cli.main(["--out", str(tmp_path / "nope"), "--resume"]) == 2
    assert "the run directory" in capsys.readouterr().err
    out = _run_dir(tmp_path, checkpoint=False)
    assert cli.main(["--out", str(out), "--resume"]) == 2
    assert "has no checkpoint yet" in capsys.readouterr().err
    assert cli.main(["--resume"]) == 2 and "--resume needs --out" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    assert cli.main(["--out", str(tmp_path / "plain"), "--resume"]) == 2
    assert "holds no config.json" in capsys.readouterr().err


def test_invalid_settings_end_in_one_line(capsys):
    assert cli.main(["--env", "textenvs/Translation-v0", "--no-save", "--temperature", "0"]) == 2
    assert capsys.readouterr().err.strip() == "textenvs train ppo: temperature must be > 0, got 0.0."
    with pytest.raises(SystemExit):
        cli.main(["--env-kwargs", "[1]"])
    assert "expected a JSON object" in capsys.readouterr().err


def _one_line_error(capsys, main, argv, prog="textenvs train ppo"):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"{prog}: ")
    return err


@pytest.mark.parametrize("main, prog", [(cli.main, "textenvs train ppo"),
                                        (grpo_cli.main, "textenvs train grpo")])
def test_typos_in_env_model_and_scorer_end_in_one_line_with_a_suggestion(tmp_path, capsys, main, prog):
    out = ["--out", str(tmp_path / "run")]
    err = _one_line_error(capsys, main, ["--env", "textenvs/Translaton-v0", *out], prog)
    assert "Unknown textenvs environment 'textenvs/Translaton-v0'. Did you mean 'textenvs/Translation-v0'?" in err
    err = _one_line_error(capsys, main, ["--env", "textenvs/Translation-v0", "--model", str(tmp_path / "nope"),
                                         *out], prog)
    assert f"--model '{tmp_path / 'nope'}': not a Hugging Face checkpoint directory (no such directory)" in err
    (tmp_path / "empty").mkdir()
    err = _one_line_error(capsys, main, ["--env", "textenvs/Translation-v0", "--model", str(tmp_path / "empty"),
                                         *out], prog)
    assert "(the directory has no config.json)" in err
    err = _one_line_error(capsys, main, ["--env", "textenvs/Translation-v0", "--env-kwargs",
                                         '{"max_new_tokns": 4}', *out], prog)
    assert "Unknown env argument(s): 'max_new_tokns' (did you mean 'max_new_tokens'?)" in err
    err = _one_line_error(capsys, main, ["--env", "textenvs/Translation-v0", "--scorer", "BLEU", *out], prog)
    assert "Unknown scorer 'BLEU'. Did you mean 'bleu'?" in err
    assert not (tmp_path / "run").exists(), "nothing is written before the inputs are checked"


@pytest.mark.parametrize("main, prog", [(cli.main, "textenvs train ppo"),
                                        (grpo_cli.main, "textenvs train grpo")])
def test_env_and_out_are_required_and_no_save_is_the_explicit_opt_out(tmp_path, capsys, main, prog):
    err = _one_line_error(capsys, main, ["--out", str(tmp_path / "run")], prog)
    assert "--env is required: the environment to train on, one of textenvs/Translation-v0" in err
    err = _one_line_error(capsys, main, ["--env", "textenvs/Dialogue-v0"], prog)
    assert "--out is required: the run directory for the model, logs, plot and checkpoints (or --no-save" in err
    err = _one_line_error(capsys, main, ["--env", "textenvs/Dialogue-v0", "--no-save", "--out", "x"], prog)
    assert "--no-save and --out contradict each other" in err


def test_scorer_flag_sets_the_env_scorer_and_no_save_leaves_out_empty():
    parser = cli.build_parser(GRPOConfig, prog="textenvs train grpo")
    config = cli.parse_config(parser, ["--env", "textenvs/Translation-v0", "--no-save", "--scorer", "bleu",
                                       "--env-kwargs", '{"max_new_tokens": 8}'], GRPOConfig)
    assert config.env_kwargs == {"max_new_tokens": 8, "scorer": "bleu"} and config.out is None
    assert "--scorer" in parser.format_help() and "(required, unless --no-save)" in parser.format_help()


def test_scorer_flag_disagreeing_with_env_kwargs_is_refused(capsys):
    err = _one_line_error(capsys, cli.main, ["--env", "textenvs/Translation-v0", "--no-save", "--scorer", "bleu",
                                             "--env-kwargs", '{"scorer": "chrf"}'])
    assert "--scorer 'bleu' and --env-kwargs' scorer 'chrf' disagree" in err


def test_resume_with_the_saved_scorer_is_accepted_and_another_is_refused(tmp_path, capsys):
    out = _run_dir(tmp_path, env_kwargs={"scorer": "bleu", "max_new_tokens": 8})
    arguments = cli._resumed(vars(cli.build_parser().parse_args(["--out", str(out), "--resume"])), PPOConfig, "bleu")
    assert arguments["env_kwargs"] == {"scorer": "bleu", "max_new_tokens": 8}
    err = _one_line_error(capsys, cli.main, ["--out", str(out), "--resume", "--scorer", "chrf"])
    assert "--resume cannot change the settings the checkpoint was built with: --env-kwargs was" in err


def test_help_texts_list_grpo_say_each_default_once_and_print_percent_signs(capsys):
    from agents.bench.cli import build_parser as bench_parser
    from agents.sft.cli import build_parser as sft_parser
    from textenvs.cli import main as textenvs_main

    assert textenvs_main(["--help"]) == 0
    assert "textenvs train sft|ppo|grpo --env ID --out DIR" in capsys.readouterr().out
    sft_help = " ".join(sft_parser().format_help().split())
    assert "(default: None)" not in sft_help and "(default: False)" not in sft_help
    assert "tokenizer directory (default: the built-in tokenizer) --train-tokenizer" in sft_help
    assert "(default: tiny)" in sft_help
    bench_help = bench_parser().format_help()
    assert "95% CI" in bench_help and "%%" not in bench_help
