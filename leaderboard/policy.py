"""Policies submitted with a run, so the server can verify it: what a policy directory may hold, how it travels
(``textenvs leaderboard submit --model DIR`` packs it, ``PUT /submissions/{id}/policy`` receives it) and how the
server stores and verifies it.

A policy is the ``save_pretrained`` directory of the model an agent decoded its predictions with, as ``textenvs
bench`` keeps it (``<out>/policies/<run>/``): safetensors weights, the model's config, the tokenizer's files and
any JSON the trainer wrote beside them. Since the server loads weights that strangers send, it accepts only files
that cannot run code when read:

- weights only as ``*.safetensors`` (no pickle: no ``*.bin``, ``*.pt``, ``*.pkl``, ...);
- besides them only ``*.json``, ``*.txt`` (BPE merges), ``*.model`` (SentencePiece) and ``*.jinja`` (chat
  templates), as plain files of a flat directory (no subfolders, links or odd names);
- at most :data:`MAX_POLICY_BYTES` in all (``serve --max-policy-mb``) and :data:`MAX_POLICY_FILES` files;
- models are built from their config by transformers' own classes; ``trust_remote_code`` is never passed, so a
  config naming custom code (``auto_map``) cannot run it;
- the model the config declares is sized on the meta device (no memory) before it is built: at 2 bytes per
  parameter it must fit the same limit, so a small file cannot declare a model whose randomly initialised
  weights fill the server's memory (:func:`check_declared_size`).

The upload travels as an uncompressed tar archive of those files (the archive's size is the policy's size, so the
request-size limit is the policy-size limit, and no compressed bomb can unpack to more).
"""

from __future__ import annotations

import io
import re
import shutil
import tarfile
from pathlib import Path

from leaderboard.schema import LeaderboardError

MAX_POLICY_BYTES = 64 * 1024 * 1024
"""Default limit of a submitted policy's size (the quick start's tiny models take about 4.5 MB)."""
MAX_POLICY_FILES = 32
POLICY_SUFFIXES = (".safetensors", ".json", ".txt", ".model", ".jinja")
"""File kinds a policy directory may hold: safetensors weights and text or protobuf files that run no code."""
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TAR_CONTENT_TYPE = "application/x-tar"


def policy_files(directory: Path, max_bytes: int = MAX_POLICY_BYTES) -> list[Path]:
    """The files of policy ``directory``, checked against the rules of this module.

    :raises LeaderboardError: 404 when the directory does not exist; 413 when it is too large; 422 naming every
        file that is not allowed, or when no safetensors weights are there.
    """
    if not directory.is_dir():
        raise LeaderboardError(404, f"Policy directory {directory} does not exist; pass the save_pretrained "
                                    "directory of the run's policy (textenvs bench keeps it as <out>/policies/<run>).")
    entries = sorted(directory.iterdir())
    refused = [path.name for path in entries if not _allowed(path.name) or not path.is_file() or path.is_symlink()]
    if refused:
        raise LeaderboardError(422, f"Policy {directory} holds {', '.join(map(repr, refused))}, which a policy may "
                                    f"not: only plain files named like {', '.join('*' + s for s in POLICY_SUFFIXES)} "
                                    "(weights as safetensors; pickled weights such as *.bin or *.pt run code when "
                                    "loaded and are refused).", refused=refused)
    check_policy_contents([(path.name, path.stat().st_size) for path in entries], max_bytes, str(directory))
    return entries


def check_policy_contents(files: list[tuple[str, int]], max_bytes: int, where: str) -> None:
    """Refuse a policy (``(name, size)`` per file) with too many files, too many bytes or no safetensors weights."""
    total = sum(size for _, size in files)
    if total > max_bytes:
        raise LeaderboardError(413, f"Policy {where} is {total} bytes; the limit is {max_bytes} bytes.",
                               limit=max_bytes)
    if len(files) > MAX_POLICY_FILES:
        raise LeaderboardError(422, f"Policy {where} has {len(files)} files; the limit is {MAX_POLICY_FILES}.")
    if not any(name.endswith(".safetensors") for name, _ in files):
        raise LeaderboardError(422, f"Policy {where} has no *.safetensors weights; save the model with "
                                    "model.save_pretrained(dir) (safetensors is its default format).")


def _allowed(name: str) -> bool:
    return bool(_FILE_NAME.match(name)) and name.endswith(POLICY_SUFFIXES)


def pack_policy(directory: Path, max_bytes: int = MAX_POLICY_BYTES) -> bytes:
    """The checked files of policy ``directory`` as an uncompressed tar archive (the body of a policy upload)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in policy_files(directory, max_bytes):
            info = tarfile.TarInfo(path.name)
            info.size = path.stat().st_size
            with open(path, "rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()


def unpack_policy(archive: bytes, destination: Path, max_bytes: int = MAX_POLICY_BYTES) -> Path:
    """Write the files of a policy archive into ``destination`` (replaced whole), after checking every member:
    regular files with allowed flat names only, within the size limits. Nothing is extracted by the tar module
    itself (no links, devices, absolute or ``..`` paths can reach the disk).

    :raises LeaderboardError: 422 for an archive that is not a tar or breaks a rule (naming the members), 413 for
        too many bytes.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            members = tar.getmembers()
            refused = [member.name for member in members if not member.isfile() or not _allowed(member.name)]
            if refused:
                raise LeaderboardError(422, f"The policy archive holds {', '.join(map(repr, refused[:20]))}, which a "
                                            "policy may not: only plain files named like "
                                            f"{', '.join('*' + s for s in POLICY_SUFFIXES)}, no folders or links.",
                                       refused=refused[:100])
            names = [member.name for member in members]
            if len(set(names)) != len(names):
                raise LeaderboardError(422, "The policy archive names a file more than once.")
            check_policy_contents([(member.name, member.size) for member in members], max_bytes, "archive")
            partial = destination.with_name(destination.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            for member in members:
                source = tar.extractfile(member)
                (partial / member.name).write_bytes(source.read() if source is not None else b"")
    except tarfile.TarError as error:
        raise LeaderboardError(422, f"The policy upload is not a tar archive ({error}); send the body "
                                    "`textenvs leaderboard submit --model DIR` builds.") from None
    shutil.rmtree(destination, ignore_errors=True)
    partial.rename(destination)
    return destination


def check_declared_size(directory: Path, max_bytes: int = MAX_POLICY_BYTES) -> int:
    """The parameter count of the model ``directory``'s config declares, built on the meta device (nothing is
    allocated); refused when those parameters at 2 bytes each exceed ``max_bytes``, as no weights file within the
    limit can hold them (the rest would be initialised at random, in memory).

    :raises LeaderboardError: 413 naming the count and the limit.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    config = AutoConfig.from_pretrained(directory)
    model_class = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    with torch.device("meta"):
        parameters = sum(parameter.numel() for parameter in model_class.from_config(config).parameters())
    if 2 * parameters > max_bytes:
        raise LeaderboardError(413, f"Policy {directory}'s config declares a model of {parameters} parameters "
                                    f"({2 * parameters} bytes at 16 bits each); the policy limit is {max_bytes} bytes.",
                               limit=max_bytes)
    return parameters
